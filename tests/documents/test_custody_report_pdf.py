"""The custody report PDF: what a reader finds in it, and Burmese set as Burmese is written
(shaped by HarfBuzz: medials reordered, marks stacked), not one glyph per code point."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import pytest
import weasyprint.urls
from fontTools.ttLib import TTFont
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import ContentStream

from casefile.documents import custody_report_pdf

CASE_TITLE = "Custody report: မြန်မာ Tula Toli"
ITEM_TITLE = "ရခိုင်ပြည်နယ် မြန်မာ"
ACTOR = "ဒေါ်အောင်"
MYANMAR = "မြန်မာ"  # ma, medial ra, na, asat, ma, aa: the medial ra is drawn first, left of ma


def report() -> dict:
    proof = {"tree_size": 3, "hashes": ["cd" * 32, "ef" * 32]}
    return {
        "checkpoint": "casefile.example/custody\n3\nq83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng=\n"
                      "\n— casefile.example+0badf00d+AbcDEF\n",
        "verifier_key": "casefile.example+0badf00d+AQIDBA==",
        "entries": [
            {"seq": 0, "time": "2026-11-01T10:00:00.000000Z",
             "actor": {"id": "5e1f...", "label": ACTOR}, "action": "evidence.registered",
             "case": "c", "item": "i", "details": {"title": ITEM_TITLE, "ern": "MMR-0001"},
             "leaf_hash": "ab" * 32, "inclusion_proof": {"leaf_index": 0, **proof}},
            {"seq": 1, "time": "2026-11-01T10:05:00.000000Z", "leaf_hash": "12" * 32,
             "redacted": True, "inclusion_proof": {"leaf_index": 1, **proof}},
            {"seq": 2, "time": "2026-11-01T10:09:00.000000Z",
             "actor": {"id": None, "label": "Investigator K."}, "action": "custody.transferred",
             "case": "c", "item": None, "details": {"seal_number": "S-1"},
             "leaf_hash": "34" * 32, "inclusion_proof": {"leaf_index": 2, **proof}},
        ],
    }


SUBJECT = custody_report_pdf.Subject(
    case_title="Tula Toli ရခိုင်",
    forum="International Criminal Court (ICC)",
    court="Pre-Trial Chamber III",
    reference="ICC-01/19",
    items=[custody_report_pdf.ItemLine(id="i", ern="MMR-0001", name="photo.jpg",
                                       sha256="ef" * 32)],
)


def sentence(entry: dict) -> str:
    return f"{entry['actor']['label']} did {entry['action']}"


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return custody_report_pdf.render(report(), CASE_TITLE, SUBJECT, sentence)


def pdf_words(data: bytes) -> str:
    return " ".join(
        "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split()
    )


def test_a_registry_reads_the_case_and_entries_first_and_the_appendix_last(pdf):
    words = pdf_words(pdf)
    order = [
        "Case Tula Toli",
        "Court Pre-Trial Chamber III",
        "Reference ICC-01/19",
        "MMR-0001 photo.jpg",
        "Investigator K. did custody.transferred",
        "Appendix: how to verify this report",
        "How to check this report without Casefile",
        "Signed checkpoint",
        "casefile.example+0badf00d+AQIDBA==",
    ]
    positions = [words.find(part) for part in order]
    assert all(position >= 0 for position in positions), dict(zip(order, positions, strict=True))
    assert positions == sorted(positions)
    # Times are a date and a clock, each whole; the entry of an item names its ERN.
    assert "2026-11-01 10:05:00 UTC" in words
    assert words.index("10:09:00 UTC") < words.index("Appendix")


def test_times_and_emails_break_only_between_tokens():
    data = report()
    data["entries"][2]["actor"]["label"] = "registry.officer@icc-cpi.example.int"
    document = custody_report_pdf.html(data, "t", SUBJECT, sentence)
    assert ('<span class="token">registry.<wbr>officer<wbr>@icc-cpi.<wbr>example.<wbr>int'
            '</span>') in document
    assert '<span class="nowrap">10:09:00 UTC</span>' in document
    # Laid out in the narrow column, the address is still whole on each line it spans.
    pdf = custody_report_pdf.render(data, "t", SUBJECT, sentence)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    address = "registry.officer@icc-cpi.example.int"
    allowed = "".join(
        ("\\s?" if char == "@" else "") + re.escape(char) + ("\\s?" if char == "." else "")
        for char in address
    )
    assert re.search(allowed, text), "the address is broken inside a name or domain label"


@dataclass
class Run:
    """Glyphs a text-showing operator draws, with the subset font they come from."""

    font: str
    glyphs: list[int]
    cmap: dict[int, int]  # code point -> glyph id, as the embedded subset maps them


def glyph_runs(data: bytes) -> list[Run]:
    reader = PdfReader(io.BytesIO(data))
    runs: list[Run] = []
    for page in reader.pages:
        fonts = page["/Resources"]["/Font"]
        embedded: dict[str, tuple[str, dict[int, int]]] = {}
        for key, reference in fonts.items():
            font = reference.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            # Identity-H with no CIDToGIDMap stream: the two-byte codes are glyph ids.
            assert font["/Encoding"] == "/Identity-H"
            program = TTFont(io.BytesIO(descendant["/FontDescriptor"]["/FontFile2"].get_data()))
            glyph_ids = {name: index for index, name in enumerate(program.getGlyphOrder())}
            cmap = {point: glyph_ids[name] for point, name in program.getBestCmap().items()}
            embedded[key] = (str(font["/BaseFont"]), cmap)
        current = None
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"Tf":
                current = operands[0]
            elif operator in {b"Tj", b"TJ"}:
                parts = operands[0] if operator == b"TJ" else [operands[0]]
                codes = b"".join(part.original_bytes for part in parts
                                 if hasattr(part, "original_bytes"))
                glyphs = [int.from_bytes(codes[i:i + 2], "big") for i in range(0, len(codes), 2)]
                name, cmap = embedded[current]
                runs.append(Run(name, glyphs, cmap))
    return runs


def myanmar_glyphs(runs: list[Run]) -> list[tuple[Run, list[int]]]:
    """Per Myanmar font, all its glyphs in drawing order (a line may be cut in several runs)."""
    joined: dict[str, tuple[Run, list[int]]] = {}
    for run in runs:
        if "Padauk" in run.font:
            joined.setdefault(run.font, (run, []))[1].extend(run.glyphs)
    return list(joined.values())


def contains(sequence: list[int], part: list[int]) -> bool:
    return any(sequence[i:i + len(part)] == part for i in range(len(sequence) - len(part) + 1))


def test_the_pdf_holds_the_title_checkpoint_entries_and_how_to_check_them(pdf):
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata.title == CASE_TITLE  # Burmese exactly as given
    assert reader.metadata.author == "Casefile"
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = text.replace("\n", "")  # hashes and names broken across lines
    words = " ".join(text.split())  # prose wrapped at spaces
    assert "Custody report:" in text and "Tula Toli" in text
    assert "Pre-Trial Chamber III" in text and "ICC-01/19" in text
    assert "How to check this report without Casefile" in text
    assert "Signed checkpoint" in text
    assert "casefile.example/custody" in text
    assert "q83vEjRWeJASNFZ4kBI0VniQEjRWeJASNFZ4kBI0Vng=" in flat
    assert "casefile.example+0badf00d+AQIDBA==" in flat
    for entry in report()["entries"]:
        assert entry["leaf_hash"] in flat
        assert entry["time"] in flat
    assert "evidence.registered" in flat and "custody.transferred" in flat
    assert '"seal_number": "S-1"' in text and "Investigator K." in text
    assert '"ern": "MMR-0001"' in text
    assert "redacted" in text
    assert "concerns an item you have no access to; its leaf hash is in the signed log" in words
    assert "tree size 3" in text and "Page 1" in text


def test_user_text_is_shown_as_text_and_nothing_is_fetched(tmp_path, monkeypatch):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not include")
    fetched = []
    monkeypatch.setattr(weasyprint.urls.URLFetcher, "fetch",
                        lambda _self, url, _headers=None: fetched.append(url))
    data = report()
    data["entries"][0]["actor"]["label"] = f'<img src="file://{secret}"><b>Ko</b>'
    title = f'Custody report: <link rel="attachment" href="file://{secret}">'
    document = custody_report_pdf.html(data, title)
    assert "<img" not in document and "&lt;img src=" in document and "<link rel" not in document
    pdf = custody_report_pdf.render(data, title, SUBJECT)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "<b>Ko</b>" in text.replace("\n", "")
    assert b"do not include" not in pdf and "do not include" not in text
    assert fetched == []


def test_the_burmese_title_and_entry_are_drawn_with_a_myanmar_font(pdf):
    """ToUnicode maps of shaped text are lossy (one glyph, one mapping), so the Burmese of an
    entry is checked at the glyph level: every consonant of the item's title and of its actor
    is drawn, in order, by the Myanmar font; nothing is drawn as .notdef (a box)."""
    runs = glyph_runs(pdf)
    assert all(0 not in run.glyphs for run in runs)
    fonts = myanmar_glyphs(runs)
    assert fonts, "no Myanmar font (Padauk) is embedded"
    for text in (ITEM_TITLE, ACTOR):
        consonants = [point for point in map(ord, text) if 0x1000 <= point <= 0x1021]
        assert any(
            all(point in run.cmap for point in consonants)
            and is_subsequence([run.cmap[point] for point in consonants], glyphs)
            for run, glyphs in fonts
        ), f"the consonants of {text} are not all drawn, in order, by one Myanmar font"


def is_subsequence(part: list[int], sequence: list[int]) -> bool:
    remaining = iter(sequence)
    return all(any(glyph == wanted for glyph in remaining) for wanted in part)


def test_burmese_is_shaped_not_set_one_glyph_per_code_point(pdf):
    runs = glyph_runs(pdf)
    assert all(0x25CC not in run.cmap for run in runs), "a dotted circle: a broken cluster"
    reordered = False
    for run, glyphs in myanmar_glyphs(runs):
        cmap = run.cmap
        if all(ord(char) in cmap for char in MYANMAR):
            code_point_order = [cmap[ord(char)] for char in MYANMAR]
            # HarfBuzz's Myanmar shaper moves the medial ra (U+103C) before its consonant.
            visual_order = [cmap[0x103C], cmap[0x1019], *code_point_order[2:]]
            assert not contains(glyphs, code_point_order)
            reordered |= contains(glyphs, visual_order)
        if 0x1031 in cmap and 0x1012 in cmap:
            # ေ (U+1031) is typed after its consonant and drawn before it: ဒေါ် is ေ, ဒ, ...
            assert contains(glyphs, [cmap[0x1031], cmap[0x1012]])
            assert not contains(glyphs, [cmap[0x1012], cmap[0x1031]])
    assert reordered, "the medial ra of မြန်မာ was not moved before its consonant"


def test_poppler_renders_the_page(pdf, tmp_path):
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CASEFILE_REQUIRE_BROWSER") == "1":
            pytest.fail("CASEFILE_REQUIRE_BROWSER=1 but pdftoppm (poppler-utils) is missing")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    (tmp_path / "report.pdf").write_bytes(pdf)
    result = subprocess.run(
        ["pdftoppm", "-r", "100", "-png", "-f", "1", "-l", "1", "report.pdf", "page"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # poppler complains about broken fonts or streams here
    (png,) = tmp_path.glob("page*.png")
    with Image.open(png) as image:
        width, height = image.size
        assert abs(width - 827) <= 1 and abs(height - 1169) <= 1  # A4 at 100 dpi
        # The title line (12 mm margin, 16 pt type) is drawn, including its Burmese.
        title_band = ImageOps.invert(image.convert("L").crop((0, 40, width, 95)))
        ink = title_band.point(lambda value: 255 if value > 127 else 0).getbbox()
        assert ink is not None, "the title line is blank"
        # From the left margin, past "Custody report:" and the Burmese, to "Tula Toli".
        assert ink[0] < 60 and ink[2] > 350


def test_a_transfer_row_says_where_why_and_under_which_seal_and_keeps_erns_whole():
    data = report()
    data["entries"][2] = {
        **data["entries"][2], "action": "custody_transferred",
        "details": {"from": "A", "to": "B", "reason": "forensic imaging",
                    "seal_number": "CF-SEAL-00042", "where": "Kutupalong",
                    "item": {"id": "i", "ern": "MMR-OTP-0001-0001", "sha256": "ab" * 32},
                    "receipt": {"id": "r", "ern": "MMR-OTP-0001-0002", "sha256": "cd" * 32}},
    }
    document = custody_report_pdf.html(
        data, "t", SUBJECT,
        lambda entry: f"K. handed {entry['details'].get('item', {}).get('ern')} to B")
    assert 'K. handed <span class="token">MMR-OTP-0001-0001</span> to B' in document
    assert ('where: Kutupalong; reason: forensic imaging; seal: <span class="token">'
            'CF-SEAL-00042</span>; receipt: <span class="token">MMR-OTP-0001-0002</span>'
            ) in document
    words = pdf_words(custody_report_pdf.render(data, "t", SUBJECT, sentence))
    assert "seal: CF-SEAL-00042" in words
    assert words.index("seal: CF-SEAL-00042") < words.index("Appendix")


def test_the_report_is_laid_out_with_its_small_user_agent_stylesheet():
    """print_ua.css replaces WeasyPrint's HTML5 sheet through a private hook of its HTML class:
    if a WeasyPrint upgrade stops calling it, a list item gets its bullet back here."""
    report_html, _, _ = custody_report_pdf._weasyprint()
    probe = "<ul><li>listed</li></ul>"
    full = pdf_words(weasyprint.HTML(string=probe).write_pdf())
    small = pdf_words(report_html(string=probe).write_pdf())
    assert "•" in full and "listed" in full
    assert "•" not in small and "listed" in small


@pytest.mark.parametrize("copies", [1, 4])
def test_the_small_user_agent_stylesheet_changes_nothing_in_the_report(copies):
    """The report laid out with print_ua.css is byte for byte the report laid out with
    WeasyPrint's own HTML5 sheet: the small sheet leaves out only rules that match nothing.
    Every element the template can hold is there: an e-mail address (<wbr>), a transfer's
    notes (<br>), a redacted entry, details (<pre>), on one page and across pages."""
    data = report()
    data["entries"][2] = {
        **data["entries"][2], "action": "custody_transferred",
        "actor": {"id": None, "label": "registry.officer@icc-cpi.example.int"},
        "details": {"seal_number": "CF-SEAL-00042", "where": "Kutupalong"},
    }
    data["entries"] = data["entries"] * copies
    pdf = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence)
    _, stylesheet, _ = custody_report_pdf._weasyprint()
    document = custody_report_pdf.html(data, CASE_TITLE, SUBJECT, sentence)
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=set())
    full = weasyprint.HTML(string=document, url_fetcher=fetcher).write_pdf(stylesheets=[stylesheet])
    assert pdf == full


def page_pixels(data: bytes, directory) -> list[bytes]:
    """Each page at 110 dpi, as its pixels."""
    (directory / "report.pdf").write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "110", "-png", "report.pdf", "page"],
                   cwd=directory, capture_output=True, timeout=120, check=True)
    pages = []
    for png in sorted(directory.glob("page*.png")):
        with Image.open(png) as image:
            pages.append(image.tobytes())
        png.unlink()
    return pages


def embedded_fonts(data: bytes) -> dict[str, tuple[bytes, str]]:
    """Each embedded font's program and glyph widths, by name."""
    fonts = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            descendant = font.get_object()["/DescendantFonts"][0].get_object()
            program = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            fonts[descendant["/BaseFont"]] = (program, repr(descendant.get("/W")))
    return fonts


def page_operators(data: bytes) -> str:
    return "\n".join(page.get_contents().get_data().decode("latin-1")
                     for page in PdfReader(io.BytesIO(data)).pages)


def hash_font(data: bytes) -> str:
    """The resource name of the monospace font."""
    page = PdfReader(io.BytesIO(data)).pages[0]
    (name,) = (name[1:] for name, font in page["/Resources"]["/Font"].items()
               if "Mono" in font.get_object()["/BaseFont"])
    return name


def outline(data: bytes) -> list[tuple[str, int, str]]:
    reader = PdfReader(io.BytesIO(data))

    def walk(items: list) -> list[tuple[str, int, str]]:
        found = []
        for item in items:
            if isinstance(item, list):
                found += walk(item)
            else:
                found.append((item.title, reader.get_destination_page_number(item),
                              f"{float(item.left):.3f} {float(item.top):.3f}"))
        return found

    return walk(reader.outline)


@pytest.mark.parametrize("copies", [1, 8])
def test_reports_laid_out_in_a_row_lay_out_the_appendix_fixed_part_once(
    copies, tmp_path, monkeypatch
):
    """A process laying out reports in a row (one font configuration: the bundle's helpers)
    lays out the how-to-verify text, the signed checkpoint and the verifier key once per
    checkpoint, and records once how a proof's hash lines are drawn; each report holds
    blocks as high, and its pages draw those from the record: each report reads, looks
    (every page, pixel for pixel), embeds its fonts and is outlined exactly as the report
    laid out whole; only the order of its pages' operators differs. A redacted entry's
    hashes (grey, oblique) are laid out as before."""
    from weasyprint.text.fonts import FontConfiguration  # noqa: PLC0415

    laid_out, recorded = [], []
    lay_out_alone = custody_report_pdf._lay_out_alone
    monkeypatch.setattr(custody_report_pdf, "_lay_out_alone",
                        lambda *given: laid_out.append(given) or lay_out_alone(*given))
    record_hashes = custody_report_pdf._record_hashes
    monkeypatch.setattr(custody_report_pdf, "_record_hashes",
                        lambda *given: recorded.append(given) or record_hashes(*given))
    data = report()
    data["entries"] = data["entries"] * copies
    fonts = FontConfiguration()
    first, second = (custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence,
                                               font_config=fonts) for _ in range(2))
    whole = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence)
    assert len(laid_out) == 1
    assert len(recorded) == 1
    assert first == second
    assert first != whole  # drawn from the recording, not laid out again
    assert pdf_words(first) == pdf_words(whole)
    assert "How to check this report without Casefile" in pdf_words(first)
    assert f"leaf {'ab' * 32} p0 {'cd' * 32} p1 {'ef' * 32}" in pdf_words(first)
    assert first.count(b" 6.132812 Tf") == whole.count(b" 6.132812 Tf") == 0  # compressed
    operators = page_operators(first)
    assert operators.count(f"/{hash_font(first)} 6.132812 Tf") >= 1
    assert embedded_fonts(first) == embedded_fonts(whole)
    assert outline(first) == outline(whole)
    assert len(outline(first)) == 6  # the title and five headings
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CASEFILE_REQUIRE_BROWSER") == "1":
            pytest.fail("CASEFILE_REQUIRE_BROWSER=1 but pdftoppm (poppler-utils) is missing")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    assert page_pixels(first, tmp_path) == page_pixels(whole, tmp_path)


def test_a_report_without_a_font_the_fixed_part_needs_is_laid_out_whole():
    """The recorded part draws with the report's fonts: a report that draws nothing in the
    monospace font before its checkpoint (no item, no entry) is laid out whole instead."""
    from weasyprint.text.fonts import FontConfiguration  # noqa: PLC0415

    data = {**report(), "entries": []}
    subject = custody_report_pdf.Subject(case_title="Tula Toli", scope="item")
    fonts = FontConfiguration()
    shared = custody_report_pdf.render(data, CASE_TITLE, subject, font_config=fonts)
    assert shared == custody_report_pdf.render(data, CASE_TITLE, subject)
    assert "Verifier key: casefile.example+0badf00d+AQIDBA==" in pdf_words(shared)


def test_hash_lines_with_a_character_not_recorded_are_laid_out():
    """Only the characters of the recorded sample are drawn from the record: a proof with
    another (here upper-case hexadecimal) is laid out by WeasyPrint, as before."""
    from weasyprint.text.fonts import FontConfiguration  # noqa: PLC0415

    data = report()
    data["entries"][0]["leaf_hash"] = "AB" * 32
    fonts = FontConfiguration()
    shared = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence, font_config=fonts)
    whole = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence)
    assert f"leaf {'AB' * 32}" in pdf_words(shared)
    assert pdf_words(shared) == pdf_words(whole)
    assert embedded_fonts(shared) == embedded_fonts(whole)


def test_a_checkpoint_in_a_shaped_script_is_laid_out_with_the_report():
    """A glyph of a shaped script (Burmese) may stand for other text elsewhere on the page:
    a checkpoint or key that is not ASCII is laid out with the report, never replayed, so
    the page's text layer (what a verifier copies) reads exactly as the report laid out
    whole (review finding: the replayed part changed the Burmese origin's copied text)."""
    from weasyprint.text.fonts import FontConfiguration  # noqa: PLC0415

    data = report()
    data["checkpoint"] = data["checkpoint"].replace(
        "casefile.example/custody", "မြန်မာ.example/custody"
    )
    fonts = FontConfiguration()
    shared = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence, font_config=fonts)
    whole = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence)
    assert pdf_words(shared) == pdf_words(whole)


def test_a_hash_line_longer_than_a_sha256_is_laid_out_and_wrapped(tmp_path):
    """Recorded hash lines are never wrapped: a line that is not a SHA-256's (here a leaf
    hash of 120 digits) is laid out, and wrapped in its column, as in the report laid out
    whole, never drawn past the page's edge (review finding)."""
    from weasyprint.text.fonts import FontConfiguration  # noqa: PLC0415

    data = report()
    data["entries"][0]["leaf_hash"] = "ab" * 60
    fonts = FontConfiguration()
    shared = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence, font_config=fonts)
    whole = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence)
    assert pdf_words(shared) == pdf_words(whole)
    if shutil.which("pdftoppm") is None:
        if os.environ.get("CASEFILE_REQUIRE_BROWSER") == "1":
            pytest.fail("CASEFILE_REQUIRE_BROWSER=1 but pdftoppm (poppler-utils) is missing")
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    assert page_pixels(shared, tmp_path) == page_pixels(whole, tmp_path)

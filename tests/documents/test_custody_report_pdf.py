"""The custody report PDF: what a reader finds in it, Burmese set as Burmese is written
(shaped by HarfBuzz: medials reordered, marks stacked; the same glyphs as WeasyPrint's Pango
draws), and its pages: header rows repeated, rows kept whole, nothing outside the margins,
identifiers and e-mail addresses broken only where a reader expects."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass

import pytest
import weasyprint
from fontTools.ttLib import TTFont
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import ContentStream

from casefile.documents import custody_report_pdf
from casefile.documents.pdf_text import fonts, lines

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


def pdftotext(data: bytes, *arguments: str) -> str:
    """The PDF's text as poppler's pdftotext reads it (the ToUnicode maps, ActualText)."""
    if shutil.which("pdftotext") is None:
        if os.environ.get("CASEFILE_REQUIRE_BROWSER") == "1":
            pytest.fail("CASEFILE_REQUIRE_BROWSER=1 but pdftotext (poppler-utils) is missing")
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(["pdftotext", *arguments, "-", "-"], input=data, capture_output=True,
                          timeout=120, check=True)
    return done.stdout.decode("utf-8")


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
    # The web pages' HTML form of the same rules.
    assert ('<span class="token">registry.<wbr>officer<wbr>@icc-cpi.<wbr>example.<wbr>int'
            '</span>') in custody_report_pdf.breakable(data["entries"][2]["actor"]["label"])
    # Laid out in the narrow column, the address is still whole on each line it spans.
    pdf = custody_report_pdf.render(data, "t", SUBJECT, sentence)
    text = pdftotext(pdf)
    assert "10:09:00 UTC" in text  # a clock is never broken
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
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda name, *a, **k: opened.append(str(name))
                        or real_open(name, *a, **k))
    data = report()
    data["entries"][0]["actor"]["label"] = f'<img src="file://{secret}"><b>Ko</b>'
    title = f'Custody report: <link rel="attachment" href="file://{secret}">'
    pdf = custody_report_pdf.render(data, title, SUBJECT)
    text = pdftotext(pdf)
    flat = "".join(text.split())  # broken across lines at spaces
    assert "<b>Ko</b>" in flat and f'<imgsrc="file://{secret}">' in flat
    assert '<linkrel="attachment"' in flat
    assert b"do not include" not in pdf and "do not include" not in text
    assert not any("secret" in name for name in opened)


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
    pdf = custody_report_pdf.render(
        data, "t", SUBJECT,
        lambda entry: f"K. handed {entry['details'].get('item', {}).get('ern')} to B")
    words = pdf_words(pdf)
    assert "K. handed MMR-OTP-0001-0001 to B" in words
    assert ("where: Kutupalong; reason: forensic imaging; seal: CF-SEAL-00042; receipt: "
            "MMR-OTP-0001-0002") in words
    assert words.index("seal: CF-SEAL-00042") < words.index("Appendix")
    lines = pdftotext(pdf).splitlines()  # each identifier whole on one line
    for ern in ("MMR-OTP-0001-0001", "MMR-OTP-0001-0002", "CF-SEAL-00042"):
        assert any(ern in line for line in lines), ern


def padauk_glyphs(data: bytes) -> list[int]:
    """Every glyph drawn in Padauk, in drawing order (Identity-H: a code is a glyph id)."""
    reader = PdfReader(io.BytesIO(data))
    glyphs: list[int] = []
    for page in reader.pages:
        fonts = {key: str(font.get_object()["/BaseFont"])
                 for key, font in page["/Resources"]["/Font"].items()}
        for font in page["/Resources"]["/Font"].values():
            descendant = font.get_object()["/DescendantFonts"][0].get_object()
            assert descendant.get("/CIDToGIDMap", "/Identity") == "/Identity"
        current = None
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"Tf":
                current = operands[0]
            elif operator in {b"Tj", b"TJ"} and "Padauk" in fonts[current]:
                parts = operands[0] if operator == b"TJ" else [operands[0]]
                codes = b"".join(part.original_bytes for part in parts
                                 if hasattr(part, "original_bytes"))
                glyphs += [int.from_bytes(codes[i:i + 2], "big") for i in range(0, len(codes), 2)]
    return glyphs


@pytest.mark.parametrize("text", [CASE_TITLE, ACTOR, ITEM_TITLE, MYANMAR])
def test_burmese_is_drawn_with_the_glyphs_weasyprint_draws(text):
    """Checked against an independent engine: WeasyPrint (Pango and HarfBuzz) sets the same
    string, in the report's families at the same size, with the same Padauk glyphs, in the
    same order (spaces between Burmese words included, in Padauk as Pango sets them)."""
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=set())
    theirs = padauk_glyphs(weasyprint.HTML(
        string=f'<p style="font-family: \'DejaVu Sans\', Padauk; font-size: 9pt">{text}</p>',
        url_fetcher=fetcher,
    ).write_pdf())
    assert theirs
    # The only Burmese of this report: the case title, in the subject table (9 pt) and in
    # the footer of each of its two pages (7 pt).
    subject = custody_report_pdf.Subject(case_title=text)
    ours = custody_report_pdf.render({**report(), "entries": []}, "Custody report", subject)
    assert len(PdfReader(io.BytesIO(ours)).pages) == 2
    assert padauk_glyphs(ours) == theirs * 3


def test_burmese_reads_back_as_written(pdf):
    """pdftotext (a reader's copy) gives Burmese exactly as written: its lines carry their
    text (ActualText) where one glyph stands for several characters or is reordered."""
    text = pdftotext(pdf)
    for burmese in (CASE_TITLE, SUBJECT.case_title, ACTOR, ITEM_TITLE):
        assert burmese in text, burmese


def many(entries: int) -> dict:
    """A report of many entries: long sentences, Burmese names, proofs of 20 hashes."""
    data = report()
    rows = []
    for seq in range(entries):
        row = {**data["entries"][seq % 3], "seq": seq,
               "time": f"2026-11-{1 + seq % 28:02d}T{seq // 60:02d}:{seq % 60:02d}:00.000000Z",
               "leaf_hash": f"{seq:060x}beef",
               "inclusion_proof": {"leaf_index": seq, "tree_size": 1_000_000,
                                   "hashes": [f"{seq:04x}{level:060x}" for level in range(20)]}}
        rows.append(row)
    data["entries"] = rows
    return data


def long_sentence(entry: dict) -> str:
    return (f"Entry {entry['seq']}: {entry['actor']['label']} registered the item after "
            f"checking its seal and the accompanying chain-of-custody form, then stored it.")


@dataclass
class Word:
    page: int
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    text: str


def bbox_words(data: bytes) -> tuple[list[Word], float, float]:
    """Each word pdftotext finds with its box (pt, from the page's top left)."""
    page_boxes = re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>',
                            pdftotext(data, "-bbox"), re.DOTALL)
    words = []
    for number, (_, _, body) in enumerate(page_boxes):
        for x_min, y_min, x_max, y_max, text in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
            body,
        ):
            words.append(Word(number, float(x_min), float(y_min), float(x_max), float(y_max),
                              text))
    width, height = float(page_boxes[0][0]), float(page_boxes[0][1])
    return words, width, height


MM = 72 / 25.4


def test_a_long_report_repeats_its_headers_keeps_rows_whole_and_stays_inside_the_page():
    data = many(100)
    pdf = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, long_sentence)
    words, width, height = bbox_words(pdf)
    pages = 1 + max(word.page for word in words)
    assert 8 <= pages <= 40
    # Nothing outside the page's margins; only the footer below the bottom margin's top.
    footer = set()
    for word in words:
        assert word.x_min >= 10 * MM - 0.5, word
        assert word.x_max <= width - 10 * MM + 0.5, word
        assert word.y_min >= 12 * MM - 2, word
        if word.y_max > height - 14 * MM + 0.5:
            footer.add(word.page)
            assert word.y_max <= height - 2 * MM, word
    assert footer == set(range(pages))
    on_page = [" ".join(word.text for word in words if word.page == page)
               for page in range(pages)]
    for page, text in enumerate(on_page):  # the footer of every page
        assert f"Page {page + 1} of {pages}" in text
        assert "Tula Toli" in text
    # The entries' table: its header row on each of its pages, each row on one page.
    appendix = next(page for page, text in enumerate(on_page) if "Appendix:" in text)
    assert appendix >= 2
    for page in range(appendix):
        assert "No. Time (UTC) Who What happened" in on_page[page], page
    for seq in range(100):
        clock = f"{seq // 60:02d}:{seq % 60:02d}:00"
        found = {word.page for word in words if word.page < appendix
                 and word.text in {f"{seq}:", clock}}
        assert len(found) == 1, (seq, found)  # "Entry N:" and its time on one page
    # The proofs' table: its header on each of its pages; an entry's hashes with its time.
    for page in range(appendix + 1, pages):
        assert "No. Recorded fields (time, action, details)" in on_page[page], page
        assert on_page[page].count("Hashes") == 1, page
    for seq in range(100):
        found = {word.page for word in words if word.page >= appendix
                 and word.text in {f"{seq:060x}beef", f"{seq:04x}{19:060x}",
                                   (f"2026-11-{1 + seq % 28:02d}T{seq // 60:02d}:"
                                    f"{seq % 60:02d}:00.000000Z")}}
        assert len(found) == 1, (seq, found)


def test_a_hash_or_address_wider_than_its_column_wraps_inside_it():
    data = report()
    data["entries"][0]["leaf_hash"] = "ab" * 60  # 120 digits: wider than the proofs column
    data["entries"][2]["actor"]["label"] = "registry.officer.of.the.court@" + "icc-cpi." * 4 + "int"
    pdf = custody_report_pdf.render(data, CASE_TITLE, SUBJECT, sentence)
    words, width, _ = bbox_words(pdf)
    assert all(word.x_max <= width - 10 * MM + 0.5 for word in words)
    flat = "".join(pdftotext(pdf).split())
    assert f"leaf{'ab' * 60}" in flat
    leaf = [word for word in words if word.text.startswith("abab") or word.text == "leaf"]
    assert len({round(word.y_min) for word in leaf}) >= 2  # wrapped
    # The address in the "Who" column (42 mm): broken only after a dot or before the @,
    # each line a run of whole parts.
    address = data["entries"][2]["actor"]["label"]
    cuts = {0, len(address)} | {index for index, char in enumerate(address) if char == "@"} | {
        index + 1 for index, char in enumerate(address) if char == "."}
    who = (10 * MM + 6 + 32 * MM, 10 * MM + 6 + 74 * MM)  # the "Who" column, roughly
    parts = sorted((word for word in words if word.page == 0 and who[0] < word.x_min < who[1]
                    and ("icc-cpi" in word.text or "registry" in word.text)),
                   key=lambda word: word.y_min)
    assert len(parts) >= 2 and "".join(word.text for word in parts) == address
    position = 0
    for word in parts:
        assert position in cuts and position + len(word.text) in cuts, word.text
        position += len(word.text)


def test_an_ern_never_breaks_across_lines():
    erns = [f"MMR-OTP-{n:04d}-{n * 7:04d}" for n in range(12)]
    data = report()
    pdf = custody_report_pdf.render(
        data, "t", SUBJECT, lambda _entry: "Items " + ", ".join(erns) + " were sealed.")
    words = [word.text for word in bbox_words(pdf)[0]]
    for ern in erns:
        assert any(word.startswith(ern) for word in words), ern


def test_the_outline_info_and_fonts(pdf):
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata.title == CASE_TITLE and reader.metadata.author == "Casefile"
    assert reader.metadata.creator == "Casefile"
    titles = [(title, page) for title, page, _ in outline(pdf)]
    assert titles == [
        (CASE_TITLE, 0), ("Item", 0), ("Chain of custody", 0),
        ("Appendix: how to verify this report", 1), ("Signed checkpoint", 1),
        ("Recorded entries, leaf hashes and inclusion proofs", 1),
    ]
    top_level = reader.outline
    assert len([item for item in top_level if not isinstance(item, list)]) == 1  # the h1
    assert len(top_level[1]) == 5  # the h2s under it
    fonts = embedded_fonts(pdf)
    assert {re.sub(r"^/?[A-Z]{6}\+", "", str(name)) for name in fonts} == {
        "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSansMono",
        "Padauk-Regular", "Padauk-Bold"}
    if shutil.which("pdffonts") is not None:
        listing = subprocess.run(["pdffonts", "-"], input=pdf, capture_output=True,
                                 timeout=60, check=True).stdout.decode().splitlines()[2:]
        assert len(listing) == 6
        for line in listing:
            assert re.search(r"CID TrueType\s+Identity-H\s+yes yes yes", line), line


def test_a_long_case_title_wraps_in_the_footer_inside_the_page():
    title = "Prosecutor v. " + " ".join(["Somebody Somewhere"] * 12) + " ရခိုင်ပြည်နယ်"
    subject = custody_report_pdf.Subject(case_title=title)
    pdf = custody_report_pdf.render(report(), "Custody report", subject, sentence)
    words, width, height = bbox_words(pdf)
    footer = [word for word in words if word.y_min > height - 14 * MM]
    assert all(word.x_min >= 10 * MM - 0.5 and word.x_max <= width - 10 * MM + 0.5
               and word.y_max <= height for word in footer)
    on_first = [word for word in footer if word.page == 0 and word.text == "Somebody"]
    assert len({round(word.y_min) for word in on_first}) >= 2  # on two lines at least
    assert "Page 1 of 2" in " ".join(word.text for word in footer if word.page == 0)


def outline(data: bytes) -> list[tuple[str, int, str]]:
    reader = PdfReader(io.BytesIO(data))

    def walk(items: list) -> list[tuple[str, int, str]]:
        found = []
        for item in items:
            if isinstance(item, list):
                found += walk(item)
            else:
                found.append((item.title, reader.get_destination_page_number(item),
                              f"{float(item.top):.3f}"))
        return found

    return walk(reader.outline)


def embedded_fonts(data: bytes) -> dict[str, bytes]:
    """Each embedded font's program, by name."""
    fonts = {}
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in page["/Resources"]["/Font"].values():
            descendant = font.get_object()["/DescendantFonts"][0].get_object()
            program = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
            fonts[str(descendant["/BaseFont"])] = program
    return fonts


def test_burmese_in_a_heading_is_bold_as_the_heading(pdf):
    """The heading's Burmese (the title's မြန်မာ) is drawn in Padauk's bold face, as the
    Latin around it is in DejaVu Sans Bold; the table's Burmese stays regular."""
    by_font = myanmar_glyphs(glyph_runs(pdf))
    names = [run.font for run, _ in by_font]
    assert any("Padauk-Bold" in name for name in names), names
    assert any("Padauk-Regular" in name for name in names), names
    bold = next((run, glyphs) for run, glyphs in by_font if "Padauk-Bold" in run.font)
    run, glyphs = bold
    assert all(ord(char) in run.cmap for char in MYANMAR)
    # The bold face draws the heading's word, shaped (the medial ra first).
    assert contains(glyphs, [run.cmap[0x103C], run.cmap[0x1019]])


# Right-to-left text: Arabic and Hebrew among Latin and digits, as a case title, an actor's
# name, a sentence or a detail may hold them. WeasyPrint (Pango, fribidi) set all of these.
RIGHT_TO_LEFT = ["قضية ICC-01/19", "محمد Ali, seal 2019", "Ali (علي) 2024 ok", "אבי Cohen 12",
                 "شارع ٣٤ 2019 [x]", "where: القاهرة; seal: 12/3", "علي (محمد) 7"]


def glyphs_in(data: bytes, family: str) -> list[int]:
    """Every glyph drawn in one font (its PostScript name less hyphens, subset tag ignored:
    "DejaVuSans" is regular DejaVu Sans only), in drawing order."""
    reader = PdfReader(io.BytesIO(data))
    glyphs: list[int] = []
    for page in reader.pages:
        fonts = {key: str(font.get_object()["/BaseFont"]).split("+")[-1].replace("-", "")
                 for key, font in page["/Resources"]["/Font"].items()}
        current = None
        for operands, operator in ContentStream(page.get_contents(), reader).operations:
            if operator == b"Tf":
                current = operands[0]
            elif operator in {b"Tj", b"TJ"} and fonts[current] == family:
                parts = operands[0] if operator == b"TJ" else [operands[0]]
                codes = b"".join(part.original_bytes for part in parts
                                 if hasattr(part, "original_bytes"))
                glyphs += [int.from_bytes(codes[i:i + 2], "big") for i in range(0, len(codes), 2)]
    return glyphs


@pytest.mark.parametrize("text", RIGHT_TO_LEFT)
def test_right_to_left_text_is_drawn_with_the_glyphs_weasyprint_draws(text):
    """Checked against an independent engine: WeasyPrint sets the same string with the same
    DejaVu Sans glyphs in the same (visual) order: Arabic joined and right to left, brackets
    mirrored where they are right to left, the Latin and digits around it left to right."""
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=set())
    theirs = glyphs_in(weasyprint.HTML(
        string=f'<p style="font-family: \'DejaVu Sans\'; font-size: 9pt">{text}</p>',
        url_fetcher=fetcher,
    ).write_pdf(), "DejaVuSans")
    assert len(theirs) >= len(text.replace(" ", "")) - 1
    subject = custody_report_pdf.Subject(case_title=text)
    ours = custody_report_pdf.render({**report(), "entries": []}, "Custody report", subject)
    assert contains(glyphs_in(ours, "DejaVuSans"), theirs)


def test_arabic_is_joined_and_drawn_right_to_left_among_latin():
    """"Ali (علي)": the Arabic word's glyphs are HarfBuzz's right-to-left shaping of it
    (initial, medial, final forms, rightmost letter drawn last), not its letters' isolated
    forms in the order typed; "Ali (" before it and ")" after it."""
    subject = custody_report_pdf.Subject(case_title="Ali (علي)")
    ours = glyphs_in(custody_report_pdf.render({**report(), "entries": []}, "Custody report",
                                               subject), "DejaVuSans")
    font = fonts.font("sans")
    joined = [glyph[0] for glyph in fonts.shape(font, "علي", "rtl")]
    isolated = [font.font.get_nominal_glyph(ord(char)) for char in "علي"]
    latin = [font.font.get_nominal_glyph(ord(char)) for char in "Ali ("]
    close = font.font.get_nominal_glyph(ord(")"))
    assert len(set(joined) - set(isolated)) >= 2  # the forms differ from the isolated ones
    assert contains(ours, [*latin, *joined, close])
    assert not contains(ours, isolated) and not contains(ours, isolated[::-1])


def test_right_to_left_text_reads_back_as_typed():
    """pdftotext gives the text as typed (logical order): the Arabic and Hebrew words whole
    and in place, ICC-01/19 and 2019 in their order, in the title, the actor's name, its
    sentence, a transfer's notes and its details (JSON, in the appendix). (A neutral between
    right-to-left and left-to-right text, as the ";" after "القاهرة", poppler reads next to
    the Arabic, as it does in WeasyPrint's PDFs: the next test compares with those.)"""
    data = report()
    entry = {**data["entries"][2], "actor": {"id": None, "label": "محمد Ali, seal 2019"},
             "action": "custody_transferred",
             "details": {"where": "القاهرة", "reason": "אבי Cohen 12"}}
    data["entries"] = [entry]
    subject = custody_report_pdf.Subject(case_title="قضية ICC-01/19")
    pdf = custody_report_pdf.render(data, "Custody report", subject,
                                    lambda entry: f"{entry['actor']['label']} moved it")
    # pdftotext marks right-to-left words with embedding controls (RLE ... PDF): not text.
    text = re.sub("[\u202a-\u202e]", "", pdftotext(pdf, "-raw"))
    for typed in ("قضية ICC-01/19", "محمد Ali, seal 2019 moved it", "reason: אבי Cohen 12",
                  '"where": "'):
        assert typed in text, typed
    assert text.count("القاهرة") == 2  # the notes and the JSON, each word as typed
    assert "91/10-CCI" not in text and "9102" not in text


def test_left_to_right_paragraphs_skip_bidi():
    """Latin and Burmese paragraphs (no right-to-left or explicit bidi character) are laid out
    without ICU's bidi algorithm: the fast path the reports without Arabic or Hebrew keep."""
    style = lines.Style()
    for text in ("Investigator K. 2019", CASE_TITLE, ITEM_TITLE, "Café «x» — 1/2"):
        assert lines._Text.of([lines.Piece(text, style)]).levels is None, text
    for text in RIGHT_TO_LEFT:
        assert lines._Text.of([lines.Piece(text, style)]).levels is not None, text


def test_the_bidi_check_finds_every_right_to_left_or_explicit_character():
    """The quick check's ranges hold every character of a class that needs the algorithm."""
    missed = [f"U+{point:04X}" for point in range(0x80, 0x110000)
              if unicodedata.bidirectional(chr(point)) in lines._BIDI_CLASSES
              and not lines._needs_bidi(chr(point))]
    assert not missed


@pytest.mark.parametrize("text", RIGHT_TO_LEFT)
def test_right_to_left_text_reads_back_as_from_weasyprint(text):
    """pdftotext reads the line as it reads WeasyPrint's drawing of the same string (the
    glyphs' text in visual order: poppler puts right-to-left words back as typed)."""
    fetcher = weasyprint.urls.URLFetcher(allowed_protocols=set())
    theirs = pdftotext(weasyprint.HTML(
        string=f'<p style="font-family: \'DejaVu Sans\'; font-size: 9pt">{text}</p>',
        url_fetcher=fetcher,
    ).write_pdf(), "-raw").strip()
    subject = custody_report_pdf.Subject(case_title=text)
    ours = pdftotext(custody_report_pdf.render({**report(), "entries": []}, "Custody report",
                                               subject), "-raw")
    assert f"Case {theirs}\n" in ours

def report_with(actor: str = "Investigator K.", details: dict | None = None,
                case_title: str = "Case T") -> bytes:
    data = report()
    data["entries"][2]["actor"]["label"] = actor
    if details is not None:
        data["entries"][2]["details"] = details
    subject = custody_report_pdf.Subject(case_title=case_title)
    return custody_report_pdf.render(data, "Custody report", subject, sentence)


def drawn_with(runs: list[Run], char: str) -> list[Run]:
    """The runs drawing the character with a font (subset) whose cmap has it."""
    return [run for run in runs if ord(char) in run.cmap and run.cmap[ord(char)] in run.glyphs]


def test_a_name_in_a_script_dejavu_and_padauk_lack_is_drawn_with_an_installed_font():
    """A Chinese name (張偉) is drawn, as WeasyPrint's fontconfig fallback drew it, with an
    installed font that has it (Debian's fonts-droid-fallback here), embedded as a subset:
    visible glyphs, not glyph 0, and it reads back."""
    if fonts.covering("張") is None:
        pytest.skip("no installed font has 張 (Debian: fonts-droid-fallback)")
    pdf = report_with(actor="張偉 Zhang", case_title="Prosecutor v. 張偉")
    runs = glyph_runs(pdf)
    for char in "張偉":
        drawing = drawn_with(runs, char)
        assert drawing, char
        assert all("DejaVu" not in run.font and "Padauk" not in run.font for run in drawing)
        assert all(run.cmap[ord(char)] != 0 for run in drawing)
    assert not any(0 in run.glyphs for run in runs)
    assert any(name.split("+")[1] == fonts.covering("張").postscript_name  # type: ignore[union-attr]
               for name in embedded_fonts(pdf))
    assert "張偉 Zhang" in pdftotext(pdf)


def test_a_character_no_installed_font_has_is_drawn_visibly_and_kept_in_the_text():
    """A character no font has (a private-use one, U+F0000) is drawn as U+FFFD, not as
    an empty glyph 0; a reader's copy still gives the character."""
    missing = "\U000f0000"
    assert fonts.covering(missing) is None
    pdf = report_with(actor=f"Ali {missing} Hassan")
    runs = glyph_runs(pdf)
    assert not any(0 in run.glyphs for run in runs)
    replacement = [run for run in runs if 0xFFFD in run.cmap
                   and run.cmap[0xFFFD] in run.glyphs]
    assert replacement and all("DejaVuSans" in run.font for run in replacement)
    assert f"Ali {missing} Hassan" in pdftotext(pdf)


def test_hebrew_and_latin_letters_dejavu_mono_lacks_are_drawn_in_the_details():
    """The recorded fields (DejaVu Sans Mono) fall back to DejaVu Sans, then Padauk, then
    any installed font: Hebrew, ẫ and Cyrillic komi de are drawn with fonts that have them."""
    pdf = report_with(details={"where": "בית המשפט", "reason": "ẫ \u0501"})
    runs = glyph_runs(pdf)
    for char in "בתמשפטẫ\u0501":
        assert drawn_with(runs, char), char
    assert not any(0 in run.glyphs for run in runs)
    words = pdftotext(pdf)
    assert "ẫ \u0501" in words


def test_without_padauk_burmese_is_refused_with_an_install_hint(tmp_path):
    """fontconfig gives some other font for Padauk if it is missing: the report refuses
    (FontMissing, naming the package) instead of drawing Burmese as nothing."""
    config = tmp_path / "fonts.conf"
    config.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        "<dir>/usr/share/fonts/truetype/dejavu</dir>"
        f"<cachedir>{tmp_path / 'cache'}</cachedir></fontconfig>")
    script = (
        "from casefile.documents import custody_report_pdf as c\n"
        "from casefile.documents.pdf_text.fonts import FontMissing\n"
        "try:\n"
        "    c.render({'checkpoint': 'x\\n1\\nAA=\\n', 'verifier_key': 'k', 'entries': []},"
        " 'မြန်မာ', c.Subject(case_title='မြန်မာ'), str)\n"
        "except FontMissing as error:\n"
        "    print('missing:', error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        env={**os.environ, "FONTCONFIG_FILE": str(config)}, check=False)
    assert done.returncode == 0, done.stderr
    assert "missing:" in done.stdout and "fonts-sil-padauk" in done.stdout, done.stdout


def test_a_case_title_of_300_wide_characters_stays_in_the_footer_cut_with_an_ellipsis():
    title = "W" * 150 + " " + "\uff37" * 149
    pdf = report_with(case_title=title)
    words, width, height = bbox_words(pdf)
    footer = [word for word in words if word.y_max > height - 14 * MM]
    assert footer
    for word in footer:
        assert word.x_min >= 10 * MM - 0.5 and word.x_max <= width - 10 * MM + 0.5, word
        assert word.y_min >= height - 14 * MM and word.y_max <= height, word
    for page in {word.page for word in footer}:
        rows = {round(word.y_min) for word in footer if word.page == page
                and word.text.startswith(("W", "\uff37"))}
        assert len(rows) == 2
        title_words = [word.text for word in footer if word.page == page
                       and word.text.startswith(("W", "\uff37"))]
        assert title_words[-1].endswith("…")
    # The whole title is on the first page's table.
    assert title in pdftotext(pdf).replace("\n", "")


def test_the_caches_hold_a_bounded_amount_of_text_however_many_long_notes():
    """A process writing many reports (a bundle's helper) keeps texts shaped and laid out
    up to a number of characters, not each report's long notes without end (2,000-character
    notes once grew a process to ~630 MiB); what reports share is still kept."""
    reports = 0
    shared = custody_report_pdf.HOW_TO_VERIFY
    for number in range(60):
        note = f"note {number}: " + " ".join(f"seal{number}x{word}" for word in range(300))
        report_with(details={"where": note[:2000], "reason": note[2000:4000] or "x"})
        reports += 1
        assert fonts.SHAPED.held <= fonts.SHAPED_CHARS
        assert lines.LAID_OUT.held <= lines.LAID_OUT_CHARS
    # Well past the bound: the notes alone (2 x 2,000 characters, shaped and laid out)
    assert reports * 4000 > fonts.SHAPED_CHARS
    # and what every report lays out (the appendix) is still there, kept.
    hits = lines.LAID_OUT.hits
    report_with()
    assert lines.LAID_OUT.hits > hits
    assert any(shared[:40] in "".join(piece.text for piece in key[0])
               for key in lines.LAID_OUT._kept)


def test_the_catalog_gives_the_language(pdf):
    assert PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Lang"] == "en"


def line_text(line: lines.Line) -> str:
    return "".join(glyph[4] for run in line.runs for glyph in run.glyphs)


def test_a_soft_hyphen_where_a_line_breaks_shows_a_hyphen_and_nowhere_else():
    """As WeasyPrint did: a word may break at a soft hyphen (U+00AD), and the line then
    ends with a visible "-", counted in the line's width; elsewhere it stays invisible."""
    style = lines.Style("sans", 8)
    text = "Internationalisation\u00adprocedures in the Pre\u00adTrial Chamber"
    for width in (60.0, 90.0, 130.0):
        laid = lines.lay_out([lines.Piece(text, style)], width)
        for number, line in enumerate(laid):
            assert line.width <= width + 1e-6
            broken_at_soft_hyphen = line_text(line).rstrip("-").endswith("\u00ad")
            last = number == len(laid) - 1
            assert line_text(line).endswith("\u00ad-") == (broken_at_soft_hyphen and not last)
            hyphens = sum(glyph[4] == "-" for run in line.runs for glyph in run.glyphs)
            assert hyphens == (1 if broken_at_soft_hyphen and not last else 0)
    narrow = lines.lay_out([lines.Piece(text, style)], 90.0)
    assert line_text(narrow[0]) == "Internationalisation\u00ad-"
    hyphen = narrow[0].runs[-1]
    assert hyphen.glyphs[0][0] == fonts.font("sans").font.get_nominal_glyph(ord("-"))
    # Wide enough, the word is whole and no hyphen is drawn.
    wide = lines.lay_out([lines.Piece(text, style)], 400.0)
    assert len(wide) == 1 and "-" not in line_text(wide[0])


def test_a_name_with_lam_alef_reads_back_as_typed_not_reversed():
    """Lam-alef is one glyph for two letters; right to left, a reader reverses what a glyph's
    map says, so صلاح read back as صالح (another name) until such lines carried ActualText."""
    for name in ("صلاح", "بلال"):
        pdf = custody_report_pdf.render({**report(), "entries": []}, "Custody report",
                                        custody_report_pdf.Subject(case_title=name))
        line = next(line for line in pdftotext(pdf, "-raw").splitlines()
                    if line.startswith("Case "))
        assert line.replace("\u202b", "").replace("\u202c", "") == f"Case {name}"


def test_fallback_fonts_come_from_one_fontconfig_list_not_a_call_per_character(monkeypatch):
    """However many distinct characters no style font has, fontconfig is asked once per
    process (its sorted fallback list); private-use and unassigned characters are never
    looked for, and a character's font does not depend on what was drawn before."""
    calls = []
    real_run = subprocess.run

    def counting(arguments, *rest, **options):
        calls.append(arguments)
        return real_run(arguments, *rest, **options)

    monkeypatch.setattr(fonts, "_fallback_list", None)
    monkeypatch.setattr(fonts, "_covering", {})
    monkeypatch.setattr(fonts, "_found_fonts", {})
    monkeypatch.setattr(fonts.subprocess, "run", counting)
    private = "".join(chr(0xF0000 + n) for n in range(300))
    unassigned = "\u0378\u0379"
    assert all(fonts.covering(char) is None for char in private + unassigned)
    first = fonts.covering("ｳ")  # halfwidth katakana: only a fallback font has it
    assert len(calls) <= 1
    # The same answer after other characters loaded other fonts first.
    monkeypatch.setattr(fonts, "_covering", {})
    fonts.covering("張")
    assert fonts.covering("ｳ") is first


def test_a_bidi_isolate_stays_in_its_run_and_draws_no_gap():
    """Format characters (U+2066-2069 isolates, U+200E marks) stay with the text around
    them: no fallback font's wide blank between two Latin letters."""
    style = lines.Style("sans", 8)
    plain = lines.lay_out([lines.Piece("abc (x)", style)], 400.0)[0]
    isolated = lines.lay_out([lines.Piece("abc \u2066(x)\u2069", style)], 400.0)[0]
    assert {run.font.key for run in isolated.runs} == {"sans"}
    assert abs(isolated.width - plain.width) < 0.5

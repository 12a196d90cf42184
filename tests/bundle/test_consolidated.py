"""data/consolidated.pdf: cover, index with page ranges that point at the right pages, one
bookmark per documentary exhibit (Unicode: Burmese titles), the stamps of the renditions; a
payload file like any other (manifests, the Library of Congress validator, verify-bundle)."""

from __future__ import annotations

import csv
import io
import re
import shutil

import bagit
import pytest
from pypdf import PdfReader

from casefile.bundle import consolidated, writer
from casefile.bundle.writer import BundleError
from casefile.verifier import bundle_verifier
from tests.bundle import fakes

TARGET = "data/consolidated.pdf"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("consolidated")
    plan, sources, _ = fakes.plan_and_sources()
    written = writer.write_bundle(plan, sources, root / "bundle")
    public_plan, public_sources, _ = fakes.plan_and_sources(classification="public")
    public = writer.write_bundle(public_plan, public_sources, root / "public")
    return {"folder": written.path, "plan": plan, "sources": sources, "public": public.path}


def rows_of(folder):
    text = (folder / "data/index.csv").read_text("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def text_of(page) -> str:
    return " ".join(page.extract_text().split())


def front_pages(reader: PdfReader) -> int:
    """Pages before the first exhibit's: the cover and the index."""
    return reader.get_destination_page_number(reader.outline[1])


def test_pages_are_cover_index_and_every_rendition(built):
    reader = PdfReader(built["folder"] / TARGET)
    renditions = [PdfReader(built["folder"] / row["rendition"])
                  for row in rows_of(built["folder"]) if row["rendition"]]
    assert len(renditions) == 2  # a 3-page PDF and an image; the binary file has none
    front = front_pages(reader)
    assert front == 2  # one cover page, one page of index
    assert len(reader.pages) == front + sum(len(r.pages) for r in renditions) == 6


def test_the_index_page_ranges_point_at_each_exhibits_pages(built):
    reader = PdfReader(built["folder"] / TARGET)
    index_text = "".join(text_of(reader.pages[page]) for page in range(front_pages(reader)))
    for row in rows_of(built["folder"]):
        if not row["rendition"]:
            # No page range: the native file's path instead.
            assert "native file only, see" in index_text
            assert row["file"].replace("/", "/ ").split("/ ")[-1] in index_text
            continue
        count = len(PdfReader(built["folder"] / row["rendition"]).pages)
        found = re.search(
            re.escape(row["ern"]) + r".*?(\d+)(?:\u2013(\d+))?(?: |$)",
            index_text.split(row["number"], 1)[1],
        )
        assert found, (row["ern"], index_text)
        first = int(found.group(1))
        last = int(found.group(2) or first)
        assert last - first + 1 == count
        for offset in range(count):
            stamp = text_of(reader.pages[first - 1 + offset])
            assert row["ern"] in stamp
            assert f"page {offset + 1} of {count}" in stamp


def test_one_bookmark_per_documentary_exhibit_at_its_first_page(built):
    reader = PdfReader(built["folder"] / TARGET)
    entries = [(item.title, reader.get_destination_page_number(item)) for item in reader.outline]
    assert entries[0] == ("Index of exhibits", 1)
    documentary = [row for row in rows_of(built["folder"]) if row["rendition"]]
    assert len(entries) == 1 + len(documentary)
    for (title, page), row in zip(entries[1:], documentary, strict=True):
        assert title == f"{row['number']} \u2014 {row['ern']} \u2014 {row['title']}"
        stamp = text_of(reader.pages[page])
        assert row["ern"] in stamp and "page 1 of" in stamp
    # The Burmese title, whole, as Unicode (UTF-16 in the file): a bookmark pane shows it.
    assert entries[1][0].endswith(fakes.BURMESE_TITLE)
    assert reader.trailer["/Root"]["/PageMode"] == "/UseOutlines"


def test_the_cover_ties_the_pdf_to_the_bag_and_bears_the_banner(built):
    reader = PdfReader(built["folder"] / TARGET)
    cover = text_of(reader.pages[0])
    note = built["sources"].checkpoint
    size = note.splitlines()[1]
    root_hash = note.splitlines()[2]
    assert "CONFIDENTIAL" in cover
    assert "Memorial of The Gambia" in cover and "ICJ" in cover
    assert f"Tree size {size}" in cover
    assert root_hash in cover.replace(" ", "")
    assert built["sources"].verifier_key in cover.replace(" ", "")
    assert "3 in the bundle: 2 in this PDF, 1 as a native file only" in cover
    assert "Pages 6" in cover
    # Every page of cover and index says the classification.
    assert "CONFIDENTIAL" in text_of(reader.pages[1])


def test_a_public_bundle_has_no_banner_on_the_cover(built):
    reader = PdfReader(built["public"] / TARGET)
    cover = text_of(reader.pages[0])
    assert "CONFIDENTIAL" not in cover and "UNDER SEAL" not in cover
    assert "Classification public" in cover


def test_the_cover_and_index_use_a_myanmar_font(built):
    reader = PdfReader(built["folder"] / TARGET)
    fonts = set()
    for page in reader.pages[:2]:
        for font in page["/Resources"]["/Font"].values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("Padauk" in font or "Myanmar" in font for font in fonts), fonts


def test_it_is_a_payload_file_that_every_verifier_checks(built, tmp_path):
    folder = built["folder"]
    assert TARGET in (folder / "manifest-sha256.txt").read_text()
    assert TARGET in (folder / "manifest-sha512.txt").read_text()
    bagit.Bag(str(folder)).validate()
    assert bundle_verifier.verify(folder, built["sources"].verifier_key).problems == []
    assert "data/consolidated.pdf" in (folder / "VERIFY.txt").read_text()
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    changed = copy / TARGET
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 1
    changed.write_bytes(bytes(data))
    problems = bundle_verifier.verify(copy, built["sources"].verifier_key).problems
    assert any("consolidated.pdf" in problem for problem in problems), problems


def test_no_consolidated_pdf_without_a_documentary_exhibit(tmp_path):
    plan, sources, _ = fakes.plan_and_sources()
    only_native = plan.__class__(**{**plan.__dict__, "exhibits": plan.exhibits[2:]})
    written = writer.write_bundle(only_native, sources, tmp_path / "native")
    assert not (written.path / TARGET).exists()
    assert bundle_verifier.verify(written.path).problems == []


def test_ranges_follow_the_front_matter_and_skip_native_files():
    assert consolidated.page_ranges([3, None, 1, 2], 2) == [(3, 5), None, (6, 6), (7, 8)]
    assert consolidated.page_ranges([None], 2) == [None]


def test_a_long_index_gets_its_own_length_right(tmp_path):
    """Enough exhibits for an index of several pages: the ranges still point at the pages."""
    plan, sources, _ = fakes.plan_and_sources()
    pdf, image = plan.exhibits[0], plan.exhibits[1]
    many = []
    for number in range(1, 61):
        template = pdf if number % 20 == 1 else image
        many.append(template.__class__(**{
            **template.__dict__, "number": f"Annex {number}", "ern": f"MMR-OTP-0002-{number:04d}",
        }))
    long_plan = plan.__class__(**{**plan.__dict__, "exhibits": tuple(many)})
    originals = {e.item_id: e for e in plan.exhibits}

    def content(exhibit):
        return sources.content(originals[exhibit.item_id])

    def report(exhibit):
        return {**sources.custody_report(originals[exhibit.item_id])}

    long_sources = sources.__class__(**{**sources.__dict__, "content": content,
                                        "custody_report": report})
    # The custody reports name the original ERNs: written, not verified, here.
    written = writer.write_bundle(long_plan, long_sources, tmp_path / "long")
    reader = PdfReader(written.path / TARGET)
    front = front_pages(reader)
    assert front >= 3  # a cover and at least two pages of index
    assert len(reader.pages) == front + 3 * 3 + 57
    for item in reader.outline[1:]:
        ern = item.title.split(" \u2014 ")[1]
        page = reader.get_destination_page_number(item)
        assert ern in text_of(reader.pages[page])
    last = many[-1]
    index_text = "".join(text_of(reader.pages[page]) for page in range(front))
    assert re.search(re.escape(last.ern) + r".*?" + str(len(reader.pages)), index_text)


def test_a_failure_to_consolidate_stops_the_bundle_and_leaves_nothing(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise consolidated.ConsolidationFailed("took longer than 1 s")

    monkeypatch.setattr(consolidated, "build", refuse)
    plan, sources, _ = fakes.plan_and_sources()
    with pytest.raises(BundleError, match="consolidated PDF could not be made"):
        writer.write_bundle(plan, sources, tmp_path / "bundle")
    assert list(tmp_path.iterdir()) == []


def test_a_front_matter_shorter_than_assumed_is_padded_and_the_ranges_hold(tmp_path, monkeypatch):
    """Laid out for 5 pages, cover and index take 2: 3 blank pages keep the ranges true,
    each bearing the classification banner and its page number like the others."""
    monkeypatch.setattr(consolidated, "FIRST_GUESS", 5)
    plan, sources, _ = fakes.plan_and_sources()
    bag = tmp_path / "bag"
    bag.mkdir()
    rows = []
    for position, exhibit in enumerate(plan.exhibits[:2], start=1):
        rendition = f"data/exhibits/{position}/rendition.pdf"
        (bag / rendition).parent.mkdir(parents=True)
        data = b"".join(sources.content(exhibit))
        from casefile.bundle import stamping  # noqa: PLC0415

        stamp = stamping.Stamp(exhibit.number, exhibit.ern, exhibit.classification)
        (bag / rendition).write_bytes(stamping.render(data, exhibit.mime, stamp))
        rows.append({"number": exhibit.number, "ern": exhibit.ern, "title": exhibit.title,
                     "file": f"data/exhibits/{position}/original", "rendition": rendition})
    # In this process (the helper would import the module afresh, without the patch).
    answer = consolidated.build_in_helper(
        consolidated.message(bag, plan, rows, sources.checkpoint, sources.verifier_key))
    assert answer == {"pages": 9, "front": 5, "exhibits": 2}
    reader = PdfReader(bag / TARGET)
    assert len(reader.pages) == 9
    for number in (1, 2, 3, 4, 5):  # cover, index and the three blank pages
        assert f"Page {number} of 9" in text_of(reader.pages[number - 1])
        assert "CONFIDENTIAL" in text_of(reader.pages[number - 1])
    for number in (3, 4, 5):  # blank but for the banner and the page number
        assert sorted(text_of(reader.pages[number - 1]).split()) == sorted(
            f"CONFIDENTIAL Page {number} of 9".split())
    index_text = text_of(reader.pages[1])
    assert "6\u20138" in index_text and " 9" in index_text
    assert [reader.get_destination_page_number(item) for item in reader.outline] == [1, 5, 8]
    assert "MMR-OTP-0001-0001" in text_of(reader.pages[5])
    assert "MMR-OTP-0001-0002" in text_of(reader.pages[8])
    assert sorted(p.name for p in bag.iterdir()) == ["data"]  # no temporary file left


def test_a_front_matter_longer_than_assumed_is_written_as_pdf_once(tmp_path, monkeypatch):
    """Laid out for 1 page, cover and index take 2: laid out again for 2, and only that
    second layout is written as a PDF (the first was only counted)."""
    from casefile.bundle import front_matter, stamping  # noqa: PLC0415
    from casefile.documents.pdf_text.pdf import Document  # noqa: PLC0415

    monkeypatch.setattr(consolidated, "FIRST_GUESS", 1)
    layouts, written = [], []
    layout, write = front_matter.document, Document.write
    monkeypatch.setattr(front_matter, "document",
                        lambda *args: layouts.append(args[3]) or layout(*args))
    monkeypatch.setattr(Document, "write",
                        lambda self, **kwargs: written.append(self) or write(self, **kwargs))
    plan, sources, _ = fakes.plan_and_sources()
    bag = tmp_path / "bag"
    bag.mkdir()
    rows = []
    for position, exhibit in enumerate(plan.exhibits[:2], start=1):
        rendition = f"data/exhibits/{position}/rendition.pdf"
        (bag / rendition).parent.mkdir(parents=True)
        data = b"".join(sources.content(exhibit))
        stamp = stamping.Stamp(exhibit.number, exhibit.ern, exhibit.classification)
        (bag / rendition).write_bytes(stamping.render(data, exhibit.mime, stamp))
        rows.append({"number": exhibit.number, "ern": exhibit.ern, "title": exhibit.title,
                     "file": f"data/exhibits/{position}/original", "rendition": rendition})
    written_before = len(written)  # the stamps above are written as PDFs too
    layouts.clear()
    answer = consolidated.build_in_helper(  # in this process, with the patches
        consolidated.message(bag, plan, rows, sources.checkpoint, sources.verifier_key))
    assert answer == {"pages": 6, "front": 2, "exhibits": 2}
    assert layouts == [1, 2]  # assumed 1 page, then 2
    assert len(written) - written_before == 1
    assert len(written[-1].pages) == 2
    reader = PdfReader(bag / TARGET)
    assert len(reader.pages) == 6
    index_text = text_of(reader.pages[1])
    assert "3\u20135" in index_text and " 6 " in index_text
    assert [reader.get_destination_page_number(item) for item in reader.outline] == [1, 2, 5]

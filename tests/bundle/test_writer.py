"""The bundle writer and the offline verifier, without a database: the Library of Congress
validator accepts the bag; the verifier (in Casefile, and the single file in the bundle)
passes a good bundle and names each kind of tampering; stamps are on every page; an exhibit
whose bytes fail their check stops the bundle and leaves nothing that looks complete."""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import bagit
import pytest
from pypdf import PdfReader

from casefile.bundle import writer
from casefile.bundle.plan import Hashed
from casefile.bundle.writer import BundleError
from casefile.verifier import bundle_verifier
from casefile.verifier.signed_note import generate_private_key, verifier_key
from tests.bundle import fakes

ANNEX_1 = "11111111-1111-4111-8111-111111111111"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One good bundle as a folder and as a zip (made once: a bundle takes seconds)."""
    root = tmp_path_factory.mktemp("bundles")
    plan, sources, log = fakes.plan_and_sources()
    folder = writer.write_bundle(plan, sources, root / "bundle")
    zipped = writer.write_bundle(plan, sources, root / "bundle.zip", as_zip=True)
    return {"folder": folder.path, "zip": zipped.path, "log": log, "plan": plan,
            "sources": sources, "written": folder}


@pytest.fixture
def copy(built, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(built["folder"], target)
    return target


def key_of(built) -> str:
    return built["sources"].verifier_key


def problems(path, key=None) -> list[str]:
    return bundle_verifier.verify(path, key).problems


def rehash(bag: Path) -> None:
    """What a forger does after an edit: recompute both manifests and tag manifests (the
    signature, which needs the key, is left as it was)."""
    for algorithm in ("sha256", "sha512"):
        files = sorted(p for p in (bag / "data").rglob("*") if p.is_file())
        lines = [
            f"{hashlib.new(algorithm, p.read_bytes()).hexdigest()}  "
            f"{p.relative_to(bag).as_posix()}\n"
            for p in files
        ]
        (bag / f"manifest-{algorithm}.txt").write_text("".join(lines))
    size = sum(p.stat().st_size for p in (bag / "data").rglob("*") if p.is_file())
    count = sum(1 for p in (bag / "data").rglob("*") if p.is_file())
    info = (bag / "bag-info.txt").read_text().splitlines()
    info = [f"Payload-Oxum: {size}.{count}" if x.startswith("Payload-Oxum") else x for x in info]
    (bag / "bag-info.txt").write_text("\n".join(info) + "\n")
    for algorithm in ("sha512", "sha256"):
        names = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
                 "VERIFY.txt", "verify_bundle.py"]
        lines = [f"{hashlib.new(algorithm, (bag / n).read_bytes()).hexdigest()}  {n}\n"
                 for n in sorted(names)]
        (bag / f"tagmanifest-{algorithm}.txt").write_text("".join(lines))


# --- a good bundle --------------------------------------------------------------------------


def test_the_library_of_congress_validator_accepts_the_bag(built):
    bag = bagit.Bag(str(built["folder"]))
    bag.validate()  # raises BagValidationError otherwise
    assert set(bag.algorithms) == {"sha256", "sha512"}
    info = bag.info
    assert info["External-Identifier"] == "ICJ-2026-07-memorial"
    assert info["Source-Organization"] == "Casefile test instance"
    assert info["Bagging-Date"]
    written = built["written"]
    assert info["Payload-Oxum"] == f"{written.payload_bytes}.{written.payload_files}"


def test_the_zip_holds_the_same_bag(built, tmp_path):
    with zipfile.ZipFile(built["zip"]) as archive:
        names = archive.namelist()
        assert all(name.startswith("bundle/") for name in names)
        archive.extractall(tmp_path)
    bagit.Bag(str(tmp_path / "bundle")).validate()
    folder_files = sorted(p.relative_to(built["folder"]).as_posix()
                          for p in built["folder"].rglob("*") if p.is_file())
    assert sorted(n.removeprefix("bundle/") for n in names) == folder_files
    # The same originals as the folder written from the same plan (PDFs carry their time).
    def originals(bag):
        return [line for line in (bag / "manifest-sha256.txt").read_text().splitlines()
                if "/original." in line]

    assert originals(tmp_path / "bundle") == originals(built["folder"])
    assert len(originals(built["folder"])) == 3


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_the_verifier_passes_a_good_bundle_with_the_bundled_and_the_given_key(built, form):
    report = bundle_verifier.verify(built[form], key_of(built))
    assert report.problems == []
    assert report.exhibits == 3
    text = "\n".join(report.checked)
    assert "signature over tagmanifest-sha256.txt: valid, by the key given" in text
    assert "inclusion proof" in text


def test_index_rows_files_and_custody_reports(built):
    rows = list(csv.DictReader(io.StringIO(
        (built["folder"] / "data/index.csv").read_text("utf-8"), newline="")))
    assert [r["number"] for r in rows] == ["Annex 1", "Annex 2", "Annex 3"]
    assert rows[0]["title"] == fakes.BURMESE_TITLE
    for row, exhibit in zip(rows, built["plan"].exhibits, strict=True):
        data = (built["folder"] / row["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"] == exhibit.sha256
        assert row["original_name"] == exhibit.original_name
        assert (built["folder"] / row["custody_report"]).exists()
    assert rows[0]["rendition"] and rows[1]["rendition"] and not rows[2]["rendition"]
    # The entry appended after the checkpoint is not in the report: its proof could not be.
    report = (built["folder"] / rows[0]["custody_report"]).read_text("utf-8")
    assert '"downloaded"' not in report and '"intake"' in report
    for name in ("VERIFY.txt", "verify_bundle.py", "tagmanifest-sha256.txt.sig",
                 "data/custody/checkpoint.txt", "data/custody/public-key.txt",
                 "data/custody/public-key.pem", "data/index.pdf"):
        assert (built["folder"] / name).exists(), name


def test_stamps_on_every_page_of_the_renditions(built):
    rows = list(csv.DictReader(io.StringIO(
        (built["folder"] / "data/index.csv").read_text("utf-8"), newline="")))
    pdf = PdfReader(built["folder"] / rows[0]["rendition"])
    assert len(pdf.pages) == 3
    for number, page in enumerate(pdf.pages, start=1):
        text = page.extract_text()
        assert f"page {number} of 3" in text
        assert "MMR-OTP-0001-0001" in text and "Annex 1" in text
        assert "CONFIDENTIAL" in text
        assert f"Witness statement, page {number}" in text  # the exhibit itself is still there
    image = PdfReader(built["folder"] / rows[1]["rendition"])
    assert len(image.pages) == 1
    text = image.pages[0].extract_text()
    assert "page 1 of 1" in text and "MMR-OTP-0001-0002" in text
    assert "CONFIDENTIAL" not in text and "UNDER SEAL" not in text  # a public exhibit


def test_the_index_pdf_uses_a_myanmar_font_for_burmese(built):
    pdf = PdfReader(built["folder"] / "data/index.pdf")
    fonts = set()
    for page in pdf.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            fonts.add(str(font.get_object()["/BaseFont"]))
    assert any("Padauk" in name or "Myanmar" in name for name in fonts), fonts
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "MMR-OTP-0001-0003" in text and "CONFIDENTIAL" in text


def test_the_signature_verifies_with_openssl(built):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl")
    folder = built["folder"]
    result = subprocess.run(
        [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "data/custody/public-key.pem",
         "-rawin", "-in", "tagmanifest-sha256.txt", "-sigfile", "tagmanifest-sha256.txt.sig"],
        cwd=folder, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout


# --- the single file inside the bundle ------------------------------------------------------


def run_bundled(bundle_dir: Path, target: Path, *extra: str) -> subprocess.CompletedProcess:
    # -I: no PYTHONPATH, no current folder on the path: only the standard library and the
    # interpreter's site-packages (cryptography); "-X importtime" would show the same.
    return subprocess.run(
        [sys.executable, "-I", str(bundle_dir / "verify_bundle.py"), str(target), *extra],
        capture_output=True, text=True, check=False, timeout=120, cwd=bundle_dir.parent,
    )


def test_the_bundled_verifier_passes_a_good_bundle_alone(built, tmp_path):
    lonely = tmp_path / "elsewhere"
    lonely.mkdir()
    shutil.copy(built["folder"] / "verify_bundle.py", lonely)
    result = run_bundled(lonely, built["folder"], "--key", key_of(built))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bundle verified: 3 exhibits" in result.stdout
    result = run_bundled(lonely, built["zip"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_bundled_verifier_loads_no_casefile_module(built, tmp_path):
    script = (
        "import runpy, sys\n"
        "before = set(sys.modules)\n"
        f"sys.argv = ['verify_bundle.py', {str(built['folder'])!r}]\n"
        "try:\n"
        f"    runpy.run_path({str(built['folder'] / 'verify_bundle.py')!r}, run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
        "loaded = [n for n in set(sys.modules) - before\n"
        "          if n.split('.')[0] not in sys.stdlib_module_names]\n"
        "print(sorted({n.split('.')[0] for n in loaded}))\n"
    )
    result = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True,
                            text=True, check=True, timeout=120, cwd=tmp_path)
    roots = set(eval(result.stdout.strip().splitlines()[-1]))  # noqa: S307 - our own output
    # Besides itself, only cryptography and its compiled bindings.
    assert roots <= {"casefile_bundle_verifier", "cryptography", "_cffi_backend", "cffi",
                     "_openssl"}, roots
    assert "casefile_bundle_verifier" in roots


def test_the_bundled_file_is_the_verifier_verbatim(built):
    from casefile.bundle import verifier_file  # noqa: PLC0415

    assert (built["folder"] / "verify_bundle.py").read_text("utf-8") == verifier_file.text()
    namespace: dict = {}
    source = (built["folder"] / "verify_bundle.py").read_text("utf-8")
    exec(compile(source.split("\ndef _load")[0], "verify_bundle.py", "exec"), namespace)  # noqa: S102
    for name, text in namespace["SOURCES"].items():
        assert text == (verifier_file.PACKAGE / f"{name}.py").read_text("utf-8")


# --- tampering ------------------------------------------------------------------------------


def both_catch(bag: Path, key: str, expected: str) -> None:
    """Casefile's verifier and the bundled file both fail, naming `expected`."""
    found = problems(bag, key)
    assert any(expected in problem for problem in found), found
    result = run_bundled(bag, bag, "--key", key)
    assert result.returncode == 1
    assert expected in result.stdout


def test_a_changed_payload_byte(built, copy):
    original = next((copy / "data/exhibits").glob("0003_*/original.bin"))
    data = bytearray(original.read_bytes())
    data[100] ^= 1
    original.write_bytes(bytes(data))
    relative = original.relative_to(copy).as_posix()
    both_catch(copy, key_of(built), f"{relative}: SHA256 does not match manifest-sha256.txt")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(copy)).validate()


def test_a_removed_file(built, copy):
    victim = next((copy / "data/exhibits").glob("0002_*/custody.pdf"))
    victim.unlink()
    relative = victim.relative_to(copy).as_posix()
    both_catch(copy, key_of(built), f"{relative}: listed in manifest-sha256.txt but missing")


def test_a_removed_signature_and_a_swapped_one(built, copy, tmp_path):
    stranger = generate_private_key()
    (copy / "tagmanifest-sha256.txt.sig").write_bytes(
        stranger.sign((copy / "tagmanifest-sha256.txt").read_bytes()))
    both_catch(copy, key_of(built), "signature over tagmanifest-sha256.txt: does not verify")
    # The signature of another bundle by the right key does not fit this one either.
    plan, sources, _ = fakes.plan_and_sources()
    other = writer.write_bundle(plan, sources, tmp_path / "other").path
    shutil.copy(other / "tagmanifest-sha256.txt.sig", copy / "tagmanifest-sha256.txt.sig")
    # (a different fake log key: verify with the bundle's own key)
    found = problems(copy, key_of(built))
    assert any("does not verify" in p for p in found), found
    (copy / "tagmanifest-sha256.txt.sig").unlink()
    assert any("tagmanifest-sha256.txt.sig: missing" in p for p in problems(copy, key_of(built)))


def test_a_bundle_re_signed_with_another_key_fails_against_the_published_key(built, copy):
    stranger = generate_private_key()
    stranger_key = verifier_key(fakes.ORIGIN, stranger.public_key())
    (copy / "data/custody/public-key.txt").write_text(stranger_key + "\n")
    rehash(copy)
    (copy / "tagmanifest-sha256.txt.sig").write_bytes(
        stranger.sign((copy / "tagmanifest-sha256.txt").read_bytes()))
    # Against only the key inside, the signature holds, but the checkpoint does not:
    alone = problems(copy)
    assert any("checkpoint: does not verify with the bundled key" in p for p in alone), alone
    both_catch(copy, key_of(built), "is not the key given")


def test_an_altered_index_row(built, copy):
    index = copy / "data/index.csv"
    text = index.read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    forged = hashlib.sha256(b"something else").hexdigest()
    index.write_text(text.replace(rows[1]["sha256"], forged), "utf-8")
    both_catch(copy, key_of(built), "data/index.csv: SHA256 does not match manifest-sha256.txt")
    rehash(copy)  # the manifests fixed up too: the index and the signature still catch it
    found = problems(copy, key_of(built))
    assert any("index row Annex 2 (MMR-OTP-0001-0002)" in p and "SHA-256" in p for p in found)
    assert any("signature over tagmanifest-sha256.txt: does not verify" in p for p in found)


def test_a_proof_for_another_checkpoint(built, copy):
    log = built["log"]
    later = log.checkpoint()  # the log has one more entry now: a later tree
    plan = built["plan"]
    exhibit = plan.exhibits[0]
    report = log.report(exhibit.item_id, exhibit.ern, exhibit.sha256, later)
    import json  # noqa: PLC0415

    target = next((copy / "data/exhibits").glob("0001_*/custody.json"))
    target.write_text(json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True), "utf-8")
    rehash(copy)
    found = problems(copy, key_of(built))
    assert any("proofs lead to another checkpoint" in p for p in found), found
    # Only the proofs swapped, the checkpoint text kept: the proofs themselves fail.
    report["checkpoint"] = (copy / "data/custody/checkpoint.txt").read_text("utf-8")
    target.write_text(json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True), "utf-8")
    rehash(copy)
    found = problems(copy, key_of(built))
    assert any("the proof is not for the checkpoint's tree size" in p for p in found), found
    both_catch(copy, key_of(built), "the proof is not for the checkpoint's tree size")


def test_a_zip_with_a_changed_byte(built, tmp_path):
    forged = tmp_path / "forged.zip"
    with zipfile.ZipFile(built["zip"]) as source, zipfile.ZipFile(forged, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("0001_Annex-1_MMR-OTP-0001-0001/original.pdf"):
                data = data[:200] + bytes([data[200] ^ 1]) + data[201:]
            target.writestr(info, data)
    found = problems(forged, key_of(built))
    assert any("original.pdf: SHA256 does not match" in p for p in found), found


# --- failure: nothing that looks complete ---------------------------------------------------


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("as_zip", [False, True])
def test_an_integrity_failure_stops_the_bundle_naming_the_exhibit(tmp_path, as_zip):
    plan, sources, _ = fakes.plan_and_sources()

    class IntegrityFailure(Exception):
        pass

    def failing(exhibit):
        if exhibit.number == "Annex 2":
            yield b"\x89PNG partial"
            raise IntegrityFailure("the stored blob failed authentication")
        yield from sources.content(exhibit)

    broken = type(sources)(**{**sources.__dict__, "content": failing})
    out = tmp_path / ("bundle.zip" if as_zip else "bundle")
    with pytest.raises(BundleError, match=r"exhibit Annex 2 \(MMR-OTP-0001-0002\) failed its "
                                          r"integrity check: the stored blob failed"):
        writer.write_bundle(plan, broken, out, as_zip=as_zip)
    assert listing(tmp_path) == []  # nothing, not even the partial folder


def test_bytes_that_differ_from_the_recorded_hash_stop_it_too(tmp_path):
    plan, sources, _ = fakes.plan_and_sources({ANNEX_1: fakes.three_page_pdf() + b"\n"})
    with pytest.raises(BundleError, match=r"exhibit Annex 1 .* do not match the SHA-256"):
        writer.write_bundle(plan, sources, tmp_path / "bundle")
    assert listing(tmp_path) == []


class ReaderHashed(Hashed):
    """Chunks whose reader states their SHA-256 (as reading.VerifiedChunks does once it has
    checked them): `claimed` once the last chunk is taken."""

    sha256 = None

    def __init__(self, chunks, claimed):
        self._chunks = iter(chunks)
        self._claimed = claimed
        self.sha256 = None

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return next(self._chunks)
        except StopIteration:
            self.sha256 = self._claimed
            raise


@pytest.mark.parametrize("as_zip", [False, True])
def test_a_readers_sha256_is_taken_once_and_still_checked(tmp_path, as_zip):
    """An original read verified is not hashed with SHA-256 a second time: the manifest
    takes its reader's digest; one that is not the recorded SHA-256 stops the bundle, and
    so does a reader that states none."""
    plan, sources, _ = fakes.plan_and_sources()
    taken = []

    def hashed(exhibit):
        data = b"".join(sources.content(exhibit))
        taken.append(exhibit.number)
        return ReaderHashed([data], hashlib.sha256(data).hexdigest())

    good = type(sources)(**{**sources.__dict__, "content": hashed})
    out = tmp_path / ("bundle.zip" if as_zip else "bundle")
    writer.write_bundle(plan, good, out, as_zip=as_zip)
    assert taken == [exhibit.number for exhibit in plan.exhibits]
    assert bundle_verifier.verify(out, None).valid

    for claimed, message in (("0" * 64, "do not match the SHA-256"),
                             (None, "its reader gave no checked SHA-256")):
        def lying(exhibit, claimed=claimed):
            data = b"".join(sources.content(exhibit))
            return ReaderHashed([data], claimed if exhibit.number == "Annex 2"
                                else hashlib.sha256(data).hexdigest())

        bad = type(sources)(**{**sources.__dict__, "content": lying})
        with pytest.raises(BundleError, match=message):
            writer.write_bundle(plan, bad, tmp_path / "bad", as_zip=as_zip)
        assert not (tmp_path / "bad").exists()


def test_chunks_that_merely_carry_a_sha256_are_hashed_not_believed(tmp_path):
    """Only a reader deriving from plan.Hashed has its digest taken: chunks that carry the
    digest they are expected to have (here the plan's) but hold other bytes stop the bundle,
    as any other mismatch does."""
    plan, sources, _ = fakes.plan_and_sources()

    class Claiming:
        def __init__(self, chunks, claimed):
            self._chunks = iter(chunks)
            self.sha256 = claimed

        def __iter__(self):
            return self._chunks

    def claiming(exhibit):
        data = b"".join(sources.content(exhibit))
        if exhibit.number == "Annex 2":
            data = b"other bytes" + data
        return Claiming([data], exhibit.sha256)

    bad = type(sources)(**{**sources.__dict__, "content": claiming})
    with pytest.raises(BundleError, match="do not match the SHA-256"):
        writer.write_bundle(plan, bad, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_a_failure_before_publishing_leaves_nothing(tmp_path):
    plan, sources, _ = fakes.plan_and_sources()

    def refuse(written):
        raise RuntimeError("the custody entries could not be committed")

    with pytest.raises(RuntimeError):
        writer.write_bundle(plan, sources, tmp_path / "bundle", before_publish=refuse)
    assert listing(tmp_path) == []


def test_an_existing_output_is_never_replaced(tmp_path, built):
    plan, sources, _ = fakes.plan_and_sources()
    (tmp_path / "bundle").mkdir()
    with pytest.raises(BundleError, match="exists already"):
        writer.write_bundle(plan, sources, tmp_path / "bundle")
    del built


def test_the_key_may_be_given_as_a_file_or_as_pem(built, tmp_path):
    key_file = tmp_path / "published.txt"
    key_file.write_text(key_of(built) + "\n")
    assert problems(built["folder"], str(key_file)) == []
    pem = tmp_path / "published.pem"
    shutil.copy(built["folder"] / "data/custody/public-key.pem", pem)
    assert problems(built["zip"], str(pem)) == []
    stranger = tmp_path / "stranger.txt"
    stranger.write_text(verifier_key(fakes.ORIGIN, generate_private_key().public_key()))
    found = problems(built["folder"], str(stranger))
    assert any("is not the key given" in p for p in found)
    assert any("does not verify with the key given" in p for p in found)


def test_no_rendition_for_a_broken_or_too_large_document_and_a_warning(tmp_path, monkeypatch):
    from casefile.bundle import stamping  # noqa: PLC0415

    plan, sources, _ = fakes.plan_and_sources()
    broken = b"%PDF-1.4 this is not a PDF at all"
    exhibits = list(plan.exhibits)
    exhibits[0] = fakes.exhibit("Annex 1", exhibits[0].item_id, exhibits[0].ern, broken,
                                "application/pdf")
    plan = type(plan)(**{**plan.__dict__, "exhibits": tuple(exhibits)})
    sources = type(sources)(**{**sources.__dict__, "content": lambda e: [
        broken if e.number == "Annex 1" else b"".join(fakes_content(e))]})
    monkeypatch.setattr(stamping, "MAX_BYTES", 1000)  # the PNG (1.9 KB) is now too large
    written = writer.write_bundle(plan, sources, tmp_path / "bundle")
    assert [w.split(": no PDF rendition: ")[0] for w in written.warnings] == [
        "exhibit Annex 1 (MMR-OTP-0001-0001)", "exhibit Annex 2 (MMR-OTP-0001-0002)"]
    assert "over 0 MiB" in written.warnings[1]
    assert not list((tmp_path / "bundle").rglob("rendition.pdf"))
    assert problems(tmp_path / "bundle", sources.verifier_key) == []


def fakes_content(exhibit):
    _, sources, _ = fakes.plan_and_sources()
    return sources.content(exhibit)

"""A zip bundle encrypted to age public keys: it decrypts with pyrage and with the `age` tool
a registry uses, to a zip that verifies; no plaintext zip is written; a bad recipient is
refused before anything is written; an encryption that fails midway leaves nothing."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile

import bagit
import pyrage
import pytest
from pyrage import x25519

from casefile.bundle import age, writer
from casefile.bundle.writer import BundleError
from casefile.verifier import bundle_verifier
from tests.bundle import fakes


@pytest.fixture(scope="module")
def keys():
    return [x25519.Identity.generate(), x25519.Identity.generate()]


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory, keys):
    root = tmp_path_factory.mktemp("age")
    plan, sources, _ = fakes.plan_and_sources()
    written = writer.write_bundle(
        plan, sources, root / "memorial.zip.age", as_zip=True,
        age_recipients=[str(key.to_public()) for key in keys],
    )
    return {"path": written.path, "root": root, "sources": sources, "written": written}


def test_only_the_age_file_is_left_and_it_is_not_a_zip(encrypted):
    assert sorted(p.name for p in encrypted["root"].iterdir()) == ["memorial.zip.age"]
    data = encrypted["path"].read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n")
    assert b"PK\x03\x04" not in data[:4096]
    assert b"data/index.csv" not in data  # no member name in the clear


@pytest.mark.parametrize("which", [0, 1])
def test_each_recipient_decrypts_it_with_pyrage_to_a_bundle_that_verifies(
    encrypted, keys, tmp_path, which
):
    plain = pyrage.decrypt(encrypted["path"].read_bytes(), [keys[which]])
    with zipfile.ZipFile(io.BytesIO(plain)) as archive:
        names = archive.namelist()
    assert all(name.startswith("memorial/") for name in names)  # the top folder: no .zip.age
    assert "memorial/data/consolidated.pdf" in names
    bundle = tmp_path / "memorial.zip"
    bundle.write_bytes(plain)
    report = bundle_verifier.verify(bundle, encrypted["sources"].verifier_key)
    assert report.problems == []
    assert report.exhibits == 3


def test_the_age_tool_decrypts_it_as_verify_txt_says(encrypted, keys, tmp_path):
    tool = shutil.which("age")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("the age tool is missing: .ci/run installs Debian's package age")
        pytest.skip("Debian's `age` tool is not installed (apt-get install age)")
    key_file = tmp_path / "key.txt"
    key_file.write_text(str(keys[1]) + "\n")
    bundle = tmp_path / "bundle.zip"
    with bundle.open("wb") as out:
        subprocess.run([tool, "-d", "-i", str(key_file), str(encrypted["path"])],
                       stdout=out, check=True)
    assert bundle_verifier.verify(bundle, encrypted["sources"].verifier_key).problems == []
    with zipfile.ZipFile(bundle) as archive:
        verify_text = archive.read("memorial/VERIFY.txt").decode()
        archive.extractall(tmp_path / "unzipped")  # a zip written as a stream: data descriptors
    assert "age -d -i key.txt bundle.zip.age > bundle.zip" in verify_text
    bagit.Bag(str(tmp_path / "unzipped" / "memorial")).validate()


def test_another_key_cannot_decrypt_it(encrypted):
    with pytest.raises(pyrage.DecryptError):
        pyrage.decrypt(encrypted["path"].read_bytes(), [x25519.Identity.generate()])


@pytest.mark.parametrize("recipient", [
    "age1notakey",
    "",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKDfL2KsUo2R6xqN2uMMqn3t3GqYtE4y8d0Yo5eJ1GvY",
    "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
])
def test_a_bad_recipient_is_refused_before_anything_is_written(tmp_path, keys, recipient):
    plan, sources, _ = fakes.plan_and_sources()
    read = []

    def content(exhibit):
        read.append(exhibit.ern)
        return sources.content(exhibit)

    counted = sources.__class__(**{**sources.__dict__, "content": content})
    with pytest.raises(BundleError, match="is not an age public key"):
        writer.write_bundle(plan, counted, tmp_path / "b.zip.age", as_zip=True,
                            age_recipients=[str(keys[0].to_public()), recipient])
    assert read == []
    assert list(tmp_path.iterdir()) == []


def test_age_needs_a_zip(tmp_path, keys):
    plan, sources, _ = fakes.plan_and_sources()
    with pytest.raises(BundleError, match="only a zip"):
        writer.write_bundle(plan, sources, tmp_path / "b",
                            age_recipients=[str(keys[0].to_public())])
    assert list(tmp_path.iterdir()) == []


def test_an_encryption_that_fails_midway_leaves_nothing(tmp_path, keys, monkeypatch):
    def broken(source, sink, recipients):
        source.read(1000)
        raise OSError("No space left on device")

    monkeypatch.setattr(age.pyrage, "encrypt_io", broken)
    plan, sources, _ = fakes.plan_and_sources()
    with pytest.raises(BundleError, match="age encryption failed: No space left on device"):
        writer.write_bundle(plan, sources, tmp_path / "b.zip.age", as_zip=True,
                            age_recipients=[str(keys[0].to_public())])
    assert list(tmp_path.iterdir()) == []


def test_encrypt_to_streams_a_file_to_every_recipient(keys):
    source = io.BytesIO(os.urandom(3 * 1024 * 1024 + 17))
    sink = io.BytesIO()
    age.encrypt_to([str(key.to_public()) for key in keys], source, sink)
    assert pyrage.decrypt(sink.getvalue(), [keys[0]]) == source.getvalue()
    with pytest.raises(age.BadRecipient):
        age.encrypt_to([], io.BytesIO(b"x"), io.BytesIO())


def test_a_failure_while_zipping_ends_the_encryption_too(keys):
    """The block's own error comes out as it is, and the thread ends (no hang)."""
    sink = io.BytesIO()

    def zipping() -> None:
        with age.encrypting([str(keys[0].to_public())], sink) as stream:
            stream.write(b"part of a zip")
            raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError, match="disk gone"):
        zipping()


def test_a_low_order_key_is_refused_before_anything_is_written():
    """age1 keys that decode but that no encryption can use (the all-zero point) are refused
    by the check, not by a panic half-way through a bundle."""
    zero = "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z"
    with pytest.raises(age.BadRecipient, match="not a usable age public key"):
        age.recipients_of([zero])


def _files_under(root):
    """Every regular file under `root` (hidden ones included) with its bytes."""
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


@pytest.mark.parametrize("encrypted_to", [1, 0])
def test_no_plaintext_reaches_the_disk_while_the_zip_is_written(tmp_path, keys, encrypted_to):
    """What a SIGKILL or a power cut would leave at any moment of the run: with age, one
    hidden partial file of ciphertext (no bag folder, no plaintext zip, no exhibit's bytes);
    without, one hidden partial zip file (the bag is never written twice)."""
    plan, sources, _ = fakes.plan_and_sources()
    originals = [b"".join(sources.content(exhibit)) for exhibit in plan.exhibits]
    recipients = [str(key.to_public()) for key in keys[:encrypted_to]]
    name = "memorial.zip.age" if recipients else "memorial.zip"
    seen: list[dict] = []

    def content(exhibit):
        seen.append(_files_under(tmp_path))  # before each exhibit's bytes are read
        yield from sources.content(exhibit)

    watched = sources.__class__(**{**sources.__dict__, "content": content})
    written = writer.write_bundle(
        plan, watched, tmp_path / name, as_zip=True, age_recipients=recipients,
        before_publish=lambda _: seen.append(_files_under(tmp_path)),
    )
    assert len(seen) == len(plan.exhibits) + 1
    for files in seen:
        [(path, data)] = files.items()  # one file, nothing else
        assert path.parent == tmp_path
        assert path.name.startswith(f".{name}.partial-")
        if recipients:
            assert data == b"" or data.startswith(b"age-encryption.org/v1\n")
            assert b"PK\x03\x04" not in data
            assert b"bagit.txt" not in data and b"data/index.csv" not in data
            for original in originals:
                assert original[:4096] not in data
                assert original[-4096:] not in data
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert written.path == tmp_path / name
    plain = written.path.read_bytes()
    if recipients:
        plain = pyrage.decrypt(plain, [keys[0]])
    bundle = tmp_path / "decrypted.zip"
    bundle.write_bytes(plain)
    assert bundle_verifier.verify(bundle, sources.verifier_key).problems == []
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(tmp_path / "unzipped")
    bagit.Bag(str(tmp_path / "unzipped" / "memorial")).validate()

"""Checks a court bundle offline: BagIt fixity, the index, the signatures, the custody proofs.

A court bundle (written by casefile/bundle/) is a BagIt bag (RFC 8493), as a folder or a zip:

    bagit.txt  bag-info.txt  manifest-sha256.txt  manifest-sha512.txt
    tagmanifest-sha256.txt  tagmanifest-sha512.txt  VERIFY.txt  verify_bundle.py
    tagmanifest-sha256.txt.sig       Ed25519 signature over tagmanifest-sha256.txt (64 bytes)
    data/index.csv  data/index.pdf   the exhibits, one row each
    data/custody/checkpoint.txt      the signed checkpoint (C2SP signed note)
    data/custody/public-key.txt      its verifier key (C2SP: name+keyid+base64)
    data/custody/public-key.pem      the same Ed25519 key for openssl
    data/exhibits/<number>/          original.*, rendition.pdf, custody.json, custody.pdf

`verify(path, key)` checks, and lists every failure it finds (not only the first):
- BagIt: bagit.txt, every payload file listed in every manifest and every listed file
  present, each file's SHA-256 and SHA-512, Payload-Oxum, every tag manifest's entries;
- the index: every row's file present, its SHA-256 and size the ones recomputed;
- the detached signature over tagmanifest-sha256.txt, with the bundled key and with the key
  the user gives (`key`), which is the one that matters: whoever can rewrite a bundle can
  also replace the key inside it;
- the signed checkpoint, with the same keys;
- each exhibit's custody report: every entry's leaf hash and inclusion proof against that
  checkpoint (custody_verifier), and that it is the report of that exhibit (ERN, SHA-256).

Standard library plus `cryptography` (Ed25519) only: this module ships inside every bundle,
in verify_bundle.py (casefile/bundle/verifier_file.py inlines the package there).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import csv
import hashlib
import io
import json
import os
import stat
import sys
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .custody_verifier import verify_report
from .signed_note import Checkpoint, NoteError, VerifierKey, open_note, parse_verifier_key

BAGIT = "bagit.txt"
BAG_INFO = "bag-info.txt"
ALGORITHMS = ("sha256", "sha512")
TAG_MANIFEST = "tagmanifest-sha256.txt"
SIGNATURE = "tagmanifest-sha256.txt.sig"
INDEX_CSV = "data/index.csv"
INDEX_PDF = "data/index.pdf"
CHECKPOINT = "data/custody/checkpoint.txt"
PUBLIC_KEY = "data/custody/public-key.txt"
PUBLIC_KEY_PEM = "data/custody/public-key.pem"
INDEX_COLUMNS = (
    "number", "ern", "title", "date", "type", "source", "classification", "language",
    "original_name", "size", "sha256", "file", "rendition", "custody_report",
)
CHUNK = 1 << 20
# An Ed25519 SubjectPublicKeyInfo in DER is this prefix and the 32-byte key (RFC 8410).
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


class BundleFormatError(ValueError):
    """The path is not a bundle this verifier can read at all."""


# --- reading a folder or a zip alike ---------------------------------------------------------


class _Tree:
    """The bag's files by their path relative to the bag's top (forward slashes)."""

    def files(self) -> dict[str, int]:
        raise NotImplementedError

    def open(self, name: str) -> IO[bytes]:
        raise NotImplementedError

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        with self.open(name) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise BundleFormatError(f"{name} is larger than {limit} bytes")
        return data

    def close(self) -> None:
        return None


class _Folder(_Tree):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[str] = []

    def files(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for folder, dirs, names in os.walk(self.root):
            dirs.sort()
            for name in sorted(names):
                path = Path(folder) / name
                relative = path.relative_to(self.root).as_posix()
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode):
                    self.problems.append(f"{relative}: not a regular file")
                    continue
                found[relative] = info.st_size
            for name in dirs:
                if (Path(folder) / name).is_symlink():
                    self.problems.append(
                        f"{(Path(folder) / name).relative_to(self.root).as_posix()}: "
                        "a symbolic link"
                    )
        return found

    def open(self, name: str) -> IO[bytes]:
        return (self.root / name).open("rb")


class _Zip(_Tree):
    def __init__(self, path: Path) -> None:
        self.archive = zipfile.ZipFile(path)
        self.problems: list[str] = []
        names = [info.filename for info in self.archive.infolist() if not info.is_dir()]
        tops = {name.split("/", 1)[0] for name in names if "/" in name}
        if BAGIT in names:
            self.prefix = ""
        elif len(tops) == 1 and f"{next(iter(tops))}/{BAGIT}" in names:
            self.prefix = f"{next(iter(tops))}/"
        else:
            raise BundleFormatError("no bagit.txt at the top of the zip or of its one folder")

    def files(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for info in self.archive.infolist():
            if info.is_dir():
                continue
            if not info.filename.startswith(self.prefix):
                self.problems.append(f"{info.filename}: outside the bag")
                continue
            found[info.filename[len(self.prefix):]] = info.file_size
        return found

    def open(self, name: str) -> IO[bytes]:
        return self.archive.open(self.prefix + name)

    def close(self) -> None:
        self.archive.close()


def _open_tree(path: Path) -> _Folder | _Zip:
    if path.is_dir():
        return _Folder(path)
    if path.is_file() and zipfile.is_zipfile(path):
        return _Zip(path)
    raise BundleFormatError(f"{path} is neither a bundle folder nor a zip")


# --- the report --------------------------------------------------------------------------------


@dataclass
class Report:
    """What was checked (`checked`, one line each) and what failed (`problems`)."""

    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    exhibits: int = 0
    payload_bytes: int = 0

    @property
    def valid(self) -> bool:
        return not self.problems

    def ok(self, line: str) -> None:
        self.checked.append(line)

    def fail(self, line: str) -> None:
        self.problems.append(line)


# --- BagIt -------------------------------------------------------------------------------------


def _decode_path(text: str) -> str:
    # RFC 8493 §2.1.3: CR, LF and % in a manifest's file names are percent-encoded.
    return text.replace("%0A", "\n").replace("%0D", "\r").replace("%25", "%")


def _manifest(tree: _Tree, name: str, report: Report) -> dict[str, str]:
    """{path: hex digest} of a manifest; malformed lines are failures."""
    entries: dict[str, str] = {}
    try:
        text = tree.read(name).decode("utf-8")
    except (UnicodeDecodeError, BundleFormatError) as error:
        report.fail(f"{name}: unreadable ({error})")
        return entries
    for number, line in enumerate(text.splitlines(), start=1):
        digest, _, path = line.strip("\r").partition(" ")
        path = _decode_path(path.lstrip(" ").lstrip("*"))
        if not digest or not path:
            report.fail(f"{name} line {number}: malformed")
            continue
        if path in entries:
            report.fail(f"{name}: {path} listed twice")
        entries[path] = digest.lower()
    return entries


def _digests(tree: _Tree, name: str) -> tuple[dict[str, str], int]:
    """SHA-256 and SHA-512 of one file in one pass, and its size."""
    hashers = {algorithm: hashlib.new(algorithm) for algorithm in ALGORITHMS}
    size = 0
    with tree.open(name) as handle:
        while chunk := handle.read(CHUNK):
            size += len(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
    return {algorithm: hasher.hexdigest() for algorithm, hasher in hashers.items()}, size


def _bag_info(tree: _Tree, report: Report) -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        text = tree.read(BAG_INFO).decode("utf-8")
    except (KeyError, FileNotFoundError, UnicodeDecodeError, BundleFormatError) as error:
        report.fail(f"{BAG_INFO}: unreadable ({error})")
        return info
    label = ""
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and label:
            info[label] += " " + line.strip()
            continue
        label, _, value = line.partition(":")
        label = label.strip()
        info[label] = value.strip()
    return info


def _check_declaration(tree: _Tree, report: Report) -> None:
    try:
        declaration = tree.read(BAGIT).decode("utf-8")
    except (KeyError, FileNotFoundError, UnicodeDecodeError, BundleFormatError):
        report.fail(f"{BAGIT}: missing or unreadable")
        return
    if not (
        "BagIt-Version:" in declaration and "Tag-File-Character-Encoding: UTF-8" in declaration
    ):
        report.fail(f"{BAGIT}: not a BagIt declaration in UTF-8")


def _compare(
    listed: dict[str, str], computed: dict[str, dict[str, str]], algorithm: str, name: str,
    report: Report,
) -> int:
    """Failures of one manifest against the files' recomputed digests (`computed`)."""
    failures = [
        f"{path}: listed in {name} but missing" for path in sorted(set(listed) - set(computed))
    ]
    for path, digests in computed.items():
        if path not in listed:
            failures.append(f"{path}: not listed in {name}")
        elif listed[path] != digests[algorithm]:
            failures.append(f"{path}: {algorithm.upper()} does not match {name}")
    for failure in failures:
        report.fail(failure)
    return len(failures)


def _check_payload(
    tree: _Tree, files: dict[str, int], report: Report, workers: int
) -> dict[str, dict[str, str]]:
    payload = sorted(name for name in files if name.startswith("data/"))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # hashlib frees the GIL
        digests = pool.map(lambda name: _digests(tree, name)[0], payload)
        computed = dict(zip(payload, digests, strict=True))
    bad = 0
    for algorithm in ALGORITHMS:
        name = f"manifest-{algorithm}.txt"
        if name not in files:
            report.fail(f"{name}: missing")
            bad += 1
            continue
        bad += _compare(_manifest(tree, name, report), computed, algorithm, name, report)
    if not bad:
        report.ok(f"payload: {len(payload)} files match both manifests (SHA-256, SHA-512)")
    report.payload_bytes = sum(files[name] for name in payload)
    oxum = _bag_info(tree, report).get("Payload-Oxum", "")
    expected = f"{report.payload_bytes}.{len(payload)}"
    if oxum != expected:
        report.fail(f"{BAG_INFO}: Payload-Oxum is {oxum or 'missing'}, the payload is {expected}")
    else:
        report.ok(f"Payload-Oxum {oxum} (bytes.files)")
    return computed


def _check_tag_manifests(tree: _Tree, files: dict[str, int], report: Report) -> None:
    for algorithm in ALGORITHMS:
        name = f"tagmanifest-{algorithm}.txt"
        if name not in files:
            report.fail(f"{name}: missing")
            continue
        listed = _manifest(tree, name, report)
        for required in (BAGIT, BAG_INFO, *(f"manifest-{a}.txt" for a in ALGORITHMS)):
            if required not in listed:
                report.fail(f"{name}: does not list {required}")
        present = {tag: _digests(tree, tag)[0] for tag in listed if tag in files}
        missing = {tag: "" for tag in listed if tag not in files}
        bad = _compare(listed, present, algorithm, name, report)
        for tag in missing:
            report.fail(f"{tag}: listed in {name} but missing")
        if not bad and not missing:
            report.ok(f"{name}: {len(listed)} tag files match")


def _check_bag(
    tree: _Tree, files: dict[str, int], report: Report, workers: int
) -> dict[str, dict[str, str]]:
    """BagIt fixity; returns every payload file's recomputed digests (for the index)."""
    _check_declaration(tree, report)
    computed = _check_payload(tree, files, report, workers)
    _check_tag_manifests(tree, files, report)
    return computed


# --- keys and signatures -------------------------------------------------------------------


def read_key(text: str, name: str | None = None) -> VerifierKey:
    """A verifier key given as C2SP text (name+keyid+base64), as a PEM public key (named
    `name`, the bundled key's name), or as a file holding either."""
    candidate = text.strip()
    if "\n" not in candidate and "BEGIN" not in candidate and Path(candidate).is_file():
        candidate = Path(candidate).read_text("utf-8").strip()
    if "-----BEGIN PUBLIC KEY-----" in candidate:
        body = candidate.split("-----BEGIN PUBLIC KEY-----", 1)[1].split("-----END", 1)[0]
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except binascii.Error as error:
            raise NoteError(f"malformed PEM public key ({error})") from None
        if len(der) != len(_ED25519_SPKI_PREFIX) + 32 or not der.startswith(_ED25519_SPKI_PREFIX):
            raise NoteError("the PEM public key is not an Ed25519 key")
        if name is None:
            raise NoteError("a PEM key has no name: give the key as name+keyid+base64")
        public = Ed25519PublicKey.from_public_bytes(der[len(_ED25519_SPKI_PREFIX):])
        return VerifierKey.from_public_key(name, public)
    return parse_verifier_key(candidate.splitlines()[0] if candidate else "")


def _signature_holds(tree: _Tree, key: VerifierKey) -> bool:
    signature = tree.read(SIGNATURE, 1024)
    try:
        key.public_key().verify(signature, tree.read(TAG_MANIFEST))
    except InvalidSignature:
        return False
    return True


def _keys(tree: _Tree, files: dict[str, int], given: str | None, report: Report) -> list[
    tuple[str, VerifierKey]
]:
    keys: list[tuple[str, VerifierKey]] = []
    bundled: VerifierKey | None = None
    if PUBLIC_KEY in files:
        try:
            bundled = read_key(tree.read(PUBLIC_KEY, 4096).decode("utf-8"))
            keys.append(("the bundled key", bundled))
        except (NoteError, UnicodeDecodeError, ValueError) as error:
            report.fail(f"{PUBLIC_KEY}: not a verifier key ({error})")
    else:
        report.fail(f"{PUBLIC_KEY}: missing")
    if given is not None:
        try:
            mine = read_key(given, bundled.name if bundled else None)
        except (NoteError, ValueError, OSError) as error:
            report.fail(f"--key: not a verifier key ({error})")
        else:
            keys.append(("the key given", mine))
            if bundled is not None and str(mine) != str(bundled):
                report.fail(f"the bundled key {bundled} is not the key given ({mine})")
    return keys


def _check_signatures(
    tree: _Tree, files: dict[str, int], keys: list[tuple[str, VerifierKey]], report: Report
) -> Checkpoint | None:
    if SIGNATURE not in files:
        report.fail(f"{SIGNATURE}: missing (the signature over {TAG_MANIFEST})")
    elif TAG_MANIFEST in files:
        for label, key in keys:
            if _signature_holds(tree, key):
                report.ok(f"signature over {TAG_MANIFEST}: valid, by {label} {key}")
            else:
                report.fail(f"signature over {TAG_MANIFEST}: does not verify with {label} {key}")
    checkpoint: Checkpoint | None = None
    if CHECKPOINT not in files:
        report.fail(f"{CHECKPOINT}: missing")
        return None
    note = tree.read(CHECKPOINT, 1 << 16).decode("utf-8", "replace")
    for label, key in keys:
        try:
            checkpoint = Checkpoint.parse(open_note(note, key))
        except (NoteError, ValueError) as error:
            report.fail(f"checkpoint: does not verify with {label} ({error})")
        else:
            report.ok(
                f"checkpoint: signed by {label}, {checkpoint.origin}, "
                f"{checkpoint.size} entries, root {checkpoint.root.hex()}"
            )
    return checkpoint


# --- the index and the custody reports -----------------------------------------------------


def _index_rows(tree: _Tree, files: dict[str, int], report: Report) -> list[dict[str, str]]:
    if INDEX_CSV not in files:
        report.fail(f"{INDEX_CSV}: missing")
        return []
    try:
        text = tree.read(INDEX_CSV).decode("utf-8-sig")
    except (UnicodeDecodeError, BundleFormatError) as error:
        report.fail(f"{INDEX_CSV}: unreadable ({error})")
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [column for column in INDEX_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        report.fail(f"{INDEX_CSV}: no column {', '.join(missing)}")
        return []
    return list(reader)


def _check_index(
    rows: Sequence[dict[str, str]],
    files: dict[str, int],
    computed: dict[str, dict[str, str]],
    report: Report,
) -> None:
    bad = 0
    for row in rows:
        label = f"index row {row['number']} ({row['ern']})"
        for column in ("file", "custody_report"):
            if row[column] not in files:
                report.fail(f"{label}: its {column.replace('_', ' ')} {row[column]} is missing")
                bad += 1
        if row["rendition"] and row["rendition"] not in files:
            report.fail(f"{label}: its rendition {row['rendition']} is missing")
            bad += 1
        digest = computed.get(row["file"], {}).get("sha256")
        if digest is not None and digest != row["sha256"].lower():
            report.fail(f"{label}: {row['file']} does not have the SHA-256 the index states")
            bad += 1
        if row["file"] in files and str(files[row["file"]]) != row["size"]:
            report.fail(f"{label}: {row['file']} is not the size the index states")
            bad += 1
    if rows and not bad:
        report.ok(f"index: {len(rows)} exhibits, each file's SHA-256 and size as stated")
    elif not rows:
        report.fail(f"{INDEX_CSV}: no exhibits")


def _custody_problems(
    tree: _Tree, row: dict[str, str], keys: list[tuple[str, VerifierKey]], note: str
) -> list[str]:
    """What is wrong with one exhibit's custody report."""
    label = f"custody report of {row['number']} ({row['ern']})"
    try:
        custody = json.loads(tree.read(row["custody_report"]).decode("utf-8"))
    except (ValueError, BundleFormatError) as error:
        return [f"{label}: unreadable ({error})"]
    if not isinstance(custody, dict):
        return [f"{label}: not a report"]
    problems = []
    if custody.get("checkpoint") != note:
        problems.append(f"{label}: its proofs lead to another checkpoint than the bundle's")
    if custody.get("ern") != row["ern"] or str(custody.get("sha256")) != row["sha256"]:
        problems.append(f"{label}: it is the report of another item")
    for _name, key in keys:
        verdict = verify_report(custody, str(key))
        problems.extend(f"{label}: {problem}" for problem in verdict.problems)
        if verdict.entries_checked == 0:
            problems.append(f"{label}: no entries")
    return problems


def _check_custody(
    tree: _Tree,
    rows: Sequence[dict[str, str]],
    files: dict[str, int],
    keys: list[tuple[str, VerifierKey]],
    note: str,
) -> list[str]:
    if not keys:
        return ["custody reports: no key to check them with"]
    problems: list[str] = []
    for row in rows:
        if row["custody_report"] in files:  # a missing one is already a failure of the index
            problems.extend(_custody_problems(tree, row, keys, note))
    return problems


# --- all of it -------------------------------------------------------------------------------


def verify(path: str | os.PathLike[str], key: str | None = None, *, workers: int = 2) -> Report:
    """Every check on the bundle at `path` (a folder or a zip); `key`: the verifier key the
    user trusts (C2SP text, a PEM public key, or a file holding one)."""
    report = Report()
    try:
        tree = _open_tree(Path(path))
    except (BundleFormatError, zipfile.BadZipFile, OSError) as error:
        report.fail(str(error))
        return report
    try:
        files = tree.files()
        for problem in tree.problems:
            report.fail(problem)
        computed = _check_bag(tree, files, report, workers)
        keys = _keys(tree, files, key, report)
        checkpoint = _check_signatures(tree, files, keys, report)
        rows = _index_rows(tree, files, report)
        report.exhibits = len(rows)
        _check_index(rows, files, computed, report)
        if checkpoint is not None:
            note = tree.read(CHECKPOINT, 1 << 16).decode("utf-8", "replace")
            found = _check_custody(tree, rows, files, keys, note)
            for problem in found:
                report.fail(problem)
            if rows and not found:
                report.ok(
                    f"custody reports: {len(rows)}, every entry's leaf hash and inclusion "
                    "proof verify against the bundle's checkpoint"
                )
        if key is None:
            report.ok(
                "no --key given: the signatures were checked with the key inside the bundle "
                "only; compare it with the key the instance publishes"
            )
    except (BundleFormatError, OSError, zipfile.BadZipFile, KeyError) as error:
        report.fail(f"unreadable bundle ({error})")
    finally:
        tree.close()
    return report


def print_report(report: Report, out: Callable[[str], None]) -> None:
    for line in report.checked:
        out(f"ok    {line}")
    for line in report.problems:
        out(f"FAIL  {line}")
    if report.valid:
        out(f"bundle verified: {report.exhibits} exhibits, {report.payload_bytes} payload bytes")
    else:
        out(f"bundle does NOT verify: {len(report.problems)} failures")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_bundle.py",
        description="Check a Casefile court bundle offline (folder or zip).",
    )
    parser.add_argument("path", help="the bundle: its folder or its zip")
    parser.add_argument(
        "--key",
        help="the verifier key you trust, as published by the instance "
        "(name+keyid+base64, a PEM public key, or a file holding one)",
    )
    arguments = parser.parse_args(argv)
    report = verify(arguments.path, arguments.key)
    print_report(report, print)
    return 0 if report.valid else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

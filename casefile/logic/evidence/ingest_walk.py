"""What `casefile ingest` ingests: every regular file under the paths given, in sorted order,
each once, with its sidecar metadata."""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from casefile.logic.evidence.submission import EvidenceInput

if TYPE_CHECKING:
    from casefile.logic.evidence.ingest_sidecar import Sidecar


def sidecar_key(text: str) -> str:
    """A path as the sidecar's keys are compared: POSIX separators, no surrounding blanks."""
    return PurePosixPath(text.strip().replace("\\", "/")).as_posix()


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relative: str  # POSIX path below the folder it was found in (its name if given directly)
    given: str  # the path as reached from the command line's argument
    size: int
    data: EvidenceInput = field(default_factory=EvidenceInput)

    def sidecar_keys(self) -> Iterator[str]:
        """Sidecar keys that name this file, the most specific first."""
        yield self.relative
        yield sidecar_key(self.given)
        yield self.path.absolute().as_posix()
        yield self.path.name


@dataclass(frozen=True)
class Plan:
    files: list[SourceFile]
    ignored: list[tuple[str, str]]  # (path, why): hidden files, symlinks, special files
    unmatched: list[str]  # sidecar entries that name no file

    @property
    def total_bytes(self) -> int:
        return sum(source.size for source in self.files)


def plan(
    paths: Sequence[Path], sidecar: Sidecar | None = None, *, exclude: Path | None = None
) -> Plan:
    """Every regular file under `paths`, in sorted order, each once; hidden files and folders,
    symbolic links and special files are left out (and listed). `exclude` (the sidecar file
    itself) is not ingested."""
    walker = _Walker(exclude)
    for path in paths:
        walker.argument(path)
    files, unmatched = walker.files, []
    if sidecar is not None:
        used: set[str] = set()
        for number, source in enumerate(files):
            key = sidecar.lookup(source)
            if key is not None:
                used.add(key)
                files[number] = dataclasses.replace(source, data=sidecar.entries[key])
        unmatched = sorted(set(sidecar.entries) - used)
    return Plan(files, walker.ignored, unmatched)


class _Walker:
    def __init__(self, exclude: Path | None) -> None:
        self.files: list[SourceFile] = []
        self.ignored: list[tuple[str, str]] = []
        self._seen: set[tuple[int, int]] = set()
        if exclude is not None:
            info = exclude.stat()
            self._seen.add((info.st_dev, info.st_ino))

    def argument(self, path: Path) -> None:
        given = path.as_posix()
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            self.ignored.append((given, "symbolic link"))
        elif stat.S_ISDIR(info.st_mode):
            self._walk(path, "", given)
        elif stat.S_ISREG(info.st_mode):
            self._add(path, path.name, given, info)
        else:
            self.ignored.append((given, "not a regular file"))

    def _add(self, path: Path, relative: str, given: str, info: os.stat_result) -> None:
        identity = (info.st_dev, info.st_ino)
        if identity not in self._seen:  # the same file reached twice is ingested once
            self._seen.add(identity)
            self.files.append(SourceFile(path, relative, given, info.st_size))

    def _walk(self, folder: Path, prefix: str, given: str) -> None:
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            self.ignored.append((given, f"cannot list: {error.strerror or error}"))
            return
        for entry in entries:
            relative = f"{prefix}{entry.name}"
            shown = f"{given.rstrip('/')}/{entry.name}"
            if entry.name.startswith("."):
                self.ignored.append((shown, "hidden"))
            elif entry.is_symlink():
                self.ignored.append((shown, "symbolic link"))
            elif entry.is_dir(follow_symlinks=False):
                self._walk(Path(entry.path), f"{relative}/", shown)
            elif entry.is_file(follow_symlinks=False):
                self._add(Path(entry.path), relative, shown, entry.stat(follow_symlinks=False))
            else:
                self.ignored.append((shown, "not a regular file"))

"""Where frameworks come from: the versions shipped in the package (casefile/frameworks/*.yaml)
and the versions an administrator loaded into the database. A framework id's versions are
whole numbers; a new version must be greater than every version of that id, shipped or loaded,
and loading it keeps the old ones: a charge names the version it was made under."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from casefile.logic import authz, retry
from casefile.logic.errors import Conflict, NotFound
from casefile.logic.frameworks.document import Framework, parse
from casefile.model import LoadedFramework, User

PACKAGE_FOLDER = Path(__file__).resolve().parents[2] / "frameworks"


@dataclass(frozen=True)
class VersionInfo:
    id: str
    version: int
    title: str
    origin: str  # "package" or "loaded"
    sha256: str
    crimes: int


@functools.cache
def packaged() -> dict[tuple[str, int], Framework]:
    """The shipped frameworks, read and validated once per process."""
    found: dict[tuple[str, int], Framework] = {}
    for path in sorted(PACKAGE_FOLDER.glob("*.yaml")):
        framework = parse(path.read_bytes())
        key = (framework.id, framework.version)
        if key in found:  # a packaging mistake: tests/logic/test_frameworks.py reads them all
            raise RuntimeError(f"{path.name}: {framework.id} v{framework.version} shipped twice")
        found[key] = framework
    return found


@functools.lru_cache(maxsize=64)
def _parsed(sha256: str, text: str) -> Framework:
    del sha256  # the cache key; the text was validated when it was loaded
    return parse(text)


def _loaded_row(session: Session, framework_id: str, version: int) -> LoadedFramework | None:
    return session.scalar(
        select(LoadedFramework).where(
            LoadedFramework.framework_id == framework_id, LoadedFramework.version == version
        )
    )


def versions(session: Session) -> list[VersionInfo]:
    """Every version of every framework, by id then version."""
    infos = [
        VersionInfo(f.id, f.version, f.title, "package", f.sha256, len(f.crimes))
        for f in packaged().values()
    ]
    for row in session.scalars(select(LoadedFramework)):
        framework = _parsed(row.sha256, row.text)
        infos.append(
            VersionInfo(
                row.framework_id,
                row.version,
                row.title,
                "loaded",
                row.sha256,
                len(framework.crimes),
            )
        )
    return sorted(infos, key=lambda info: (info.id, info.version))


def latest_versions(session: Session) -> list[Framework]:
    """The newest version of each framework, by id."""
    newest: dict[str, VersionInfo] = {}
    for info in versions(session):
        newest[info.id] = info
    return [get(session, info.id, info.version) for info in newest.values()]


def get(session: Session, framework_id: str, version: int | None = None) -> Framework:
    """One version of a framework (the newest if `version` is None), or NotFound."""
    if version is None:
        known = [info.version for info in versions(session) if info.id == framework_id]
        if not known:
            raise NotFound(f"no framework has the id '{framework_id}'")
        version = max(known)
    shipped = packaged().get((framework_id, version))
    if shipped is not None:
        return shipped
    row = _loaded_row(session, framework_id, version)
    if row is None:
        raise NotFound(f"framework '{framework_id}' has no version {version}")
    return _parsed(row.sha256, row.text)


@retry.transaction
def load(session: Session, actor: User | None, data: bytes | str) -> Framework:
    """Validate a framework file and store it as a new version (administrators, or the operator
    on the command line). The file's version must be greater than every known one of its id."""
    if actor is not None:
        authz.require_admin(actor)
    framework = parse(data)
    known = [info.version for info in versions(session) if info.id == framework.id]
    if known and framework.version <= max(known):
        raise Conflict(
            f"framework '{framework.id}' already has version {max(known)}; "
            f"a new version must be greater (this file says {framework.version})"
        )
    session.add(
        LoadedFramework(
            framework_id=framework.id,
            version=framework.version,
            title=framework.title,
            text=framework.text,
            sha256=framework.sha256,
            loaded_by_id=actor.id if actor else None,
        )
    )
    try:
        session.commit()
    except IntegrityError:  # the same version loaded at the same moment by someone else
        session.rollback()
        raise Conflict(
            f"framework '{framework.id}' version {framework.version} was just loaded"
        ) from None
    return framework

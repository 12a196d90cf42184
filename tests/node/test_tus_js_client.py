"""The tus client people use: tus-js-client (the library behind Uppy and most browser and Node
uploaders) under Node, against `casefile serve`, cut off mid-PATCH and resumed: with 1 MiB
chunks, and on its defaults (no chunkSize: the whole 40 MiB file in one PATCH, over the 16 MiB
max_request_mb) with the metadata keys Uppy adds (relativePath).

tus-js-client is pinned in tests/node/package.json and package-lock.json and installed with
`npm ci` into a cache folder outside the repository (~/.cache/casefile-tests/, or under
$XDG_CACHE_HOME), once per lock file. Without `node` and `npm` the test is skipped, unless
CASEFILE_REQUIRE_BROWSER=1 (CI), where it fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from casefile.db import Database
from casefile.logic.evidence import tus
from casefile.model import CustodyAction, CustodyEntry, Evidence, Role
from casefile.model.tus_upload import TusUpload
from tests.factories import add_member, bearer, make_case, make_settings, make_user
from tests.live_server import instance_env, serving

pytestmark = pytest.mark.browser

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024
NPM_SECONDS = 300
UPLOAD_SECONDS = 120


def require_node() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node, npm
    reason = "node and npm are needed for the tus-js-client test (apt-get install nodejs npm)"
    if os.environ.get("CASEFILE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CASEFILE_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def node_modules(npm: str) -> Path:
    """tus-js-client as package-lock.json pins it, installed once per lock file."""
    lock = (HERE / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "casefile-tests"
    folder = cache / f"node-{hashlib.sha256(lock).hexdigest()[:16]}"
    if (folder / "node_modules" / "tus-js-client" / "package.json").exists():
        return folder / "node_modules"
    building = cache / f"{folder.name}.{secrets.token_hex(4)}"
    building.mkdir(parents=True)
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, building / name)
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=building,
            capture_output=True,
            text=True,
            timeout=NPM_SECONDS,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci failed: {result.stderr[-2000:]}", pytrace=False)
        with contextlib.suppress(OSError):  # another run may have finished first: keep its
            building.rename(folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return folder / "node_modules"


@dataclass(frozen=True)
class Run:
    """One tus-js-client upload: its options, and what the server must have kept when the link
    drops halfway through the PATCH at `cut_at`."""

    size: int
    chunk: str  # bytes per PATCH, or "default": tus-js-client's own (the whole file at once)
    cut_at: int
    kept: int  # the offset the server reports after the cut: where the client resumes
    stored: int  # PATCHes answered 204


RUNS = {
    # 1 MiB PATCHes; the link drops in the third: nothing of it is kept (under one chunk).
    "1-mib-chunks": Run(5 * MIB + 12_345, str(MIB), 2 * MIB, 2 * MIB, stored=6),
    # On its defaults, over the old 16 MiB body cap: one PATCH of the whole file. The link
    # drops halfway (at 20 MiB): the server keeps its whole chunks, 16 MiB; one PATCH sends
    # the rest.
    "defaults-40-mib": Run(40 * MIB + 777, "default", 0, 2 * tus.CHUNK_BYTES, stored=1),
}


@pytest.mark.parametrize("run", RUNS.values(), ids=RUNS.keys())
def test_tus_js_client_resumes_a_cut_off_upload_and_the_item_is_registered(
    fresh_database_url: str, tmp_path: Path, run: Run
) -> None:
    node, npm = require_node()
    modules = node_modules(npm)
    settings = make_settings(tmp_path)
    database = Database.from_url(fresh_database_url)
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        investigator = make_user(session, "investigator@example.org")
        case = make_case(session, lead)
        add_member(session, case, lead, investigator, Role.INVESTIGATOR)
        token = bearer(session, investigator)["Authorization"]
        case_id, investigator_id = case.id, investigator.id
    content = secrets.token_bytes(run.size)
    source = tmp_path / "interview.bin"  # the client's copy (test data, not evidence)
    source.write_bytes(content)

    try:
        with serving(instance_env(settings, fresh_database_url, tmp_path), tmp_path) as server:
            endpoint = f"{server.url}/api/v1/cases/{case_id}/uploads"
            result = subprocess.run(
                [
                    node,
                    str(HERE / "tus_upload.cjs"),
                    endpoint,
                    token,
                    str(source),
                    run.chunk,
                    str(run.cut_at),
                    str(run.kept),
                ],
                env={**os.environ, "NODE_PATH": str(modules)},
                capture_output=True,
                text=True,
                timeout=UPLOAD_SECONDS,
                check=False,
            )
            assert result.returncode == 0, result.stderr + server.log.read_text()[-3000:]
            seen = json.loads(result.stdout)
            patches = server.logged("PATCH", at_least=run.stored + 1)

        # The second Upload resumed from what the server kept and sent the rest, each PATCH
        # answered 204: nothing was sent twice beyond the dropped partial chunk.
        assert seen["resumedFrom"] == run.kept
        upload_path = seen["uploadUrl"].removeprefix(server.url)
        stored = [(path, status) for path, status in patches if status == 204]
        assert stored == [(upload_path, 204)] * run.stored, patches
        # The cut-off one: a client that went away (400; nobody is left to read it).
        assert [status for _, status in patches if status != 204] == [400], patches
        item_id = uuid.UUID(seen["evidence"])
        with database.sessions() as session:
            item = session.get(Evidence, item_id)
            assert item is not None
            assert item.case_id == case_id
            assert item.sha256 == hashlib.sha256(content).hexdigest()
            assert item.size == len(content)
            assert item.title == "Interview W-31"
            assert item.original_filename == "interview-W-31.mp4"
            assert item.declared_mime == "video/mp4"
            assert "relativePath" not in item.collector  # kept with the upload only
            entries = session.scalars(
                select(CustodyEntry).where(CustodyEntry.item_id == item_id)
            ).all()
            assert [entry.action for entry in entries] == [CustodyAction.INTAKE]
            assert entries[0].actor_id == investigator_id
            upload = session.get(TusUpload, uuid.UUID(upload_path.rsplit("/", 1)[1]))
            assert upload is not None and upload.evidence_id == item_id
            assert upload.fields["relativePath"] == "field/W-31/interview-W-31.mp4"
    finally:
        database.engine.dispose()

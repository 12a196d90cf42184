"""The tus client people use: tus-js-client (the library behind Uppy and most browser and Node
uploaders) under Node, against `casefile serve`, cut off mid-chunk and resumed.

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
from pathlib import Path

import pytest
from sqlalchemy import select

from casefile.db import Database
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


def test_tus_js_client_resumes_a_cut_off_upload_and_the_item_is_registered(
    fresh_database_url: str, tmp_path: Path
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
    content = secrets.token_bytes(5 * MIB + 12_345)
    source = tmp_path / "interview.bin"  # the client's copy (test data, not evidence)
    source.write_bytes(content)
    cut_at = 2 * MIB  # the link drops halfway through the PATCH from here (the third)

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
                    str(MIB),
                    str(cut_at),
                ],
                env={**os.environ, "NODE_PATH": str(modules)},
                capture_output=True,
                text=True,
                timeout=UPLOAD_SECONDS,
                check=False,
            )
            assert result.returncode == 0, result.stderr + server.log.read_text()[-3000:]
            seen = json.loads(result.stdout)
            patches = server.logged("PATCH", at_least=6)

        # Nothing of the cut-off PATCH was stored: the second Upload resumed from the last
        # whole chunk and sent the rest, each PATCH answered 204.
        assert seen["resumedFrom"] == 2 * MIB
        upload_path = seen["uploadUrl"].removeprefix(server.url)
        stored = [(path, status) for path, status in patches if status == 204]
        assert stored == [(upload_path, 204)] * 6, patches  # 5 of 1 MiB, then 12,345 bytes
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
            entries = session.scalars(
                select(CustodyEntry).where(CustodyEntry.item_id == item_id)
            ).all()
            assert [entry.action for entry in entries] == [CustodyAction.INTAKE]
            assert entries[0].actor_id == investigator_id
            upload = session.get(TusUpload, uuid.UUID(upload_path.rsplit("/", 1)[1]))
            assert upload is not None and upload.evidence_id == item_id
    finally:
        database.engine.dispose()

"""`casefile custody verify --trusted`: a log rolled back together with its nodes and
checkpoints verifies on its own, but not against a checkpoint kept from before."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import ClassVar

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from casefile.cli import main
from casefile.db import make_engine
from casefile.logic.custody import trusted as custody_trusted
from casefile.verifier.signed_note import (
    Checkpoint,
    generate_private_key,
    sign_note,
    verifier_key,
)
from tests.cli.instances import cli_env
from tests.factories import PASSWORD

TABLES = ("custody_entries", "custody_nodes", "custody_checkpoints")


@pytest.fixture
def run(tmp_path, fresh_database_url):
    env = cli_env(tmp_path, fresh_database_url)
    runner = CliRunner()

    def invoke(*args, stdin=None):
        return runner.invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)

    assert invoke("init").exit_code == 0
    invoke("users", "create", "lead@example.org", "--password-stdin", stdin=PASSWORD + "\n")
    return invoke


def create_cases(run, *titles):
    for title in titles:
        result = run("cases", "create", "--as", "lead@example.org", "--title", title,
                     "--forum", "icc")
        assert result.exit_code == 0, result.output


def keep_checkpoint(run, path, size):
    note = run("custody", "checkpoint").output
    assert note.splitlines()[1] == str(size)
    path.write_text(note, encoding="utf-8")
    return note


def roll_back(database_url, size):
    """What someone with the database's owner rights can do: drop the append-only triggers
    and delete the newest entries, with the tree nodes and checkpoints that cover them."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        for table in TABLES:
            if connection.dialect.name == "sqlite":
                connection.execute(text(f"DROP TRIGGER {table}_no_delete"))
            else:
                connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        connection.execute(text("DELETE FROM custody_entries WHERE seq >= :size"), {"size": size})
        connection.execute(text("DELETE FROM custody_checkpoints WHERE size > :size"),
                           {"size": size})
        for level in range(64):
            connection.execute(
                text('DELETE FROM custody_nodes WHERE level = :level AND "index" >= :first'),
                {"level": level, "first": size >> level},
            )
    engine.dispose()


def last_line(result):
    return result.output.strip().splitlines()[-1]


def test_rollback_passes_plain_verify_but_not_a_trusted_checkpoint(run, tmp_path,
                                                                   fresh_database_url):
    create_cases(run, "One", "Two", "Three")
    early = tmp_path / "early.txt"
    keep_checkpoint(run, early, 3)
    create_cases(run, "Four", "Five")
    late = tmp_path / "late.txt"
    keep_checkpoint(run, late, 5)
    both = run("custody", "verify", "--trusted", str(early), str(late))
    assert both.exit_code == 0, both.output
    assert last_line(both).endswith("it extends 2 trusted checkpoints (sizes 3, 5)")

    roll_back(fresh_database_url, 4)
    plain = run("custody", "verify")
    assert plain.exit_code == 0, plain.output
    assert "custody log verified: 4 entries" in plain.output
    assert run("custody", "verify", "--trusted", str(early)).exit_code == 0
    result = run("custody", "verify", "--trusted", str(early), str(late))
    assert result.exit_code == 1
    assert last_line(result) == (
        f"casefile: custody log does not verify: trusted checkpoint {late} (size 5): it covers "
        "5 entries but the log holds 4: entries were removed (rollback)")


def test_a_fork_after_a_rollback_is_caught(run, tmp_path, fresh_database_url):
    create_cases(run, "One", "Two", "Three", "Four")
    kept = tmp_path / "kept.txt"
    keep_checkpoint(run, kept, 4)
    roll_back(fresh_database_url, 2)
    create_cases(run, "Rewritten three", "Rewritten four")  # the log grows back to 4
    assert run("custody", "checkpoint").output.splitlines()[1] == "4"
    assert run("custody", "verify").exit_code == 0
    result = run("custody", "verify", "--trusted", str(kept))
    assert result.exit_code == 1
    assert last_line(result).startswith(
        f"casefile: custody log does not verify: trusted checkpoint {kept} (size 4): the log "
        "does not extend it (rolled back or forked)")


def test_a_checkpoint_signed_by_another_key_is_refused(run, tmp_path):
    create_cases(run, "One")
    note = run("custody", "checkpoint").output
    body = note.split("\n\n")[0] + "\n"  # the checkpoint, without its signature
    assert Checkpoint.parse(body).size == 1
    stranger = generate_private_key()
    forged = tmp_path / "forged.txt"
    forged.write_text(sign_note(body, "casefile.local/custody", stranger), encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text(note, encoding="utf-8")
    result = run("custody", "verify", "--trusted", str(good), str(forged))
    assert result.exit_code == 1
    assert last_line(result).startswith(
        f"casefile: custody log does not verify: trusted checkpoint {forged}: signature or "
        "format: note is not signed by key casefile.local/custody+")
    # with the stranger's key named as the verifier, the log's own checkpoints fail first
    other = run("custody", "verify", "--public-key",
                verifier_key("casefile.local/custody", stranger.public_key()),
                "--trusted", str(forged))
    assert other.exit_code == 1 and "signature" in last_line(other)


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, bytes, dict[str, str]]]] = {}

    def do_GET(self) -> None:
        if self.path == "/drip":  # a byte every 0.2 s: each read is quick, the whole is not
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(25):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
            return
        status, body, headers = self.routes.get(self.path, (404, b"not here\n", {}))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
        del format, args


@pytest.fixture
def served() -> Iterator[tuple[str, dict[str, tuple[int, bytes, dict[str, str]]]]]:
    """A web server on 127.0.0.1 serving whatever the test puts in its routes."""
    routes: ClassVar[dict[str, tuple[int, bytes, dict[str, str]]]] = {}
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_trusted_checkpoints_from_urls(run, tmp_path, fresh_database_url, served):
    base, routes = served
    create_cases(run, "One", "Two")
    note = keep_checkpoint(run, tmp_path / "two.txt", 2)
    routes["/witness/checkpoint"] = (200, note.encode(), {"Content-Type": "text/plain"})
    routes["/moved"] = (302, b"", {"Location": f"{base}/witness/checkpoint"})
    routes["/elsewhere"] = (302, b"", {"Location": (tmp_path / "two.txt").as_uri()})
    routes["/huge"] = (200, b"x" * (custody_trusted.MAX_BYTES + 1), {})
    good = run("custody", "verify", "--trusted", f"{base}/witness/checkpoint", f"{base}/moved")
    assert good.exit_code == 0, good.output
    assert last_line(good).endswith("it extends 2 trusted checkpoints (sizes 2, 2)")

    missing = run("custody", "verify", "--trusted", f"{base}/witness/checkpoint", f"{base}/gone")
    assert missing.exit_code == 1
    assert last_line(missing).startswith(
        f"casefile: trusted checkpoint {base}/gone: cannot read it (HTTP Error 404")
    huge = run("custody", "verify", "--trusted", f"{base}/huge")
    assert huge.exit_code == 1
    assert last_line(huge) == (f"casefile: trusted checkpoint {base}/huge: larger than "
                               f"{custody_trusted.MAX_BYTES} bytes, not a checkpoint")
    elsewhere = run("custody", "verify", "--trusted", f"{base}/elsewhere")
    assert elsewhere.exit_code == 1
    assert "cannot read it" in last_line(elsewhere) and "file:" in last_line(elsewhere)

    roll_back(fresh_database_url, 1)
    rolled = run("custody", "verify", "--trusted", f"{base}/witness/checkpoint")
    assert rolled.exit_code == 1
    assert last_line(rolled) == (
        f"casefile: custody log does not verify: trusted checkpoint {base}/witness/checkpoint "
        "(size 2): it covers 2 entries but the log holds 1: entries were removed (rollback)")


def test_a_server_that_never_answers_times_out():
    with socket.create_server(("127.0.0.1", 0)) as listener:  # accepts nothing, says nothing
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/checkpoint"
        started = time.monotonic()
        with pytest.raises(custody_trusted.TrustedCheckpointError, match="timed out"):
            custody_trusted.read_source(url, timeout=1)
        assert time.monotonic() - started < 10
    with pytest.raises(custody_trusted.TrustedCheckpointError, match="cannot read it"):
        custody_trusted.read_source("ftp://127.0.0.1/checkpoint")  # neither a file nor http(s)


def test_a_server_that_drips_is_cut_off_at_the_deadline(served):
    base, _ = served
    started = time.monotonic()
    with pytest.raises(custody_trusted.TrustedCheckpointError,
                       match="no complete answer within 1 seconds"):
        custody_trusted.read_source(f"{base}/drip", timeout=1)
    assert time.monotonic() - started < 3


def test_a_custody_reports_checkpoint_is_a_trusted_checkpoint(run, tmp_path,
                                                             fresh_database_url):
    create_cases(run, "One", "Two", "Three")
    note = run("custody", "checkpoint").output
    report = tmp_path / "custody-report.json"
    report.write_text(json.dumps({"case": "x", "entries": [], "checkpoint": note}),
                      encoding="utf-8")
    assert run("custody", "verify", "--trusted", str(report)).exit_code == 0
    not_a_report = tmp_path / "other.json"
    not_a_report.write_text('{"entries": []}', encoding="utf-8")
    result = run("custody", "verify", "--trusted", str(not_a_report))
    assert result.exit_code == 1
    assert last_line(result) == (f'casefile: trusted checkpoint {not_a_report}: a JSON file must '
                                 'be a custody report with a "checkpoint"')
    roll_back(fresh_database_url, 2)
    assert run("custody", "verify").exit_code == 0
    rolled = run("custody", "verify", "--trusted", str(report))
    assert rolled.exit_code == 1 and f"trusted checkpoint {report} (size 3)" in last_line(rolled)


def test_bad_arguments(run, tmp_path):
    create_cases(run, "One")
    absent = tmp_path / "absent.txt"
    result = run("custody", "verify", "--trusted", str(absent))
    assert result.exit_code == 1
    assert last_line(result).startswith(f"casefile: trusted checkpoint {absent}: cannot read it")
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"\xff\xfe not text")
    assert "not UTF-8 text" in last_line(run("custody", "verify", "--trusted", str(garbage)))
    assert run("custody", "verify", "--trusted").exit_code == 2
    assert run("custody", "verify", str(absent)).exit_code == 2

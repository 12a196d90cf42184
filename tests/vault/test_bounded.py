"""Parsers run in a helper process, bounded in time and memory: a loop is stopped, a bomb
ends in the helper's MemoryError, a failure is reported by type; the server process is
untouched and the next run works."""

from __future__ import annotations

import time

import pytest

from casefile.vault import bounded
from tests.vault import hostile

MIB = 1024 * 1024


def test_a_parser_that_never_returns_is_stopped_in_time():
    started = time.monotonic()
    with pytest.raises(bounded.LimitExceeded, match="longer than 2 s"):
        bounded.run(hostile.spin, b"abc", seconds=2, memory_bytes=512 * MIB)
    assert time.monotonic() - started < 6
    assert bounded.run(hostile.echo, b"after", seconds=30, memory_bytes=512 * MIB) == {
        "length": 5,
        "head": "after",
    }


def test_a_parser_that_allocates_without_end_hits_the_memory_cap():
    with pytest.raises(bounded.LimitExceeded, match=r"more than 256 MiB|died"):
        bounded.run(hostile.hog, b"x", seconds=60, memory_bytes=256 * MIB)


def test_a_parser_that_raises_is_reported_by_type_and_the_helper_is_reused():
    with pytest.raises(bounded.ParserFailed, match=r"^ValueError$"):
        bounded.run(hostile.fail, b"secret text", seconds=30, memory_bytes=512 * MIB)
    data = bytes(3 * MIB)
    assert bounded.run(hostile.echo, data, seconds=30, memory_bytes=512 * MIB)["length"] == len(
        data
    )


def test_a_parser_sees_none_of_the_servers_secrets(monkeypatch):
    """A helper subverted by a hostile file finds no key or database URL in its environment."""
    bounded.close_helpers()  # helpers started before the variables were set
    monkeypatch.setenv("CASEFILE_KEK", '{"primaryKeyId": 1}')
    monkeypatch.setenv("CASEFILE_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("CASEFILE_DATABASE_URL", "postgresql://casefile:pw@db/casefile")
    try:
        names = bounded.run(hostile.environment, b"", seconds=30, memory_bytes=512 * MIB)["names"]
    finally:
        bounded.close_helpers()  # none kept that started with the test's variables
    assert not [name for name in names if name.startswith("CASEFILE")], names
    assert "PATH" in names


def test_a_helper_does_not_load_the_web_application():
    """Helpers start without casefile/__init__.py (Flask, SQLAlchemy, the settings): a third
    of the time and memory, and less of the server for a subverted parser to use; the
    parsers' own modules still import."""
    assert bounded.run(hostile.loaded, b"", seconds=30, memory_bytes=512 * MIB) == {
        "modules": []
    }
    from casefile.vault import pdf_pages  # noqa: PLC0415

    assert pdf_pages.count(hostile.minimal_pdf()) == 1


def test_helpers_are_reused_only_within_their_pool_and_a_fresh_one_is_never_reused():
    """A helper that parsed a collector's file (possibly subverted by it) never lays out
    Casefile's own documents, and a redaction runs in a helper no earlier file touched,
    closed after it; no helper can leave a core dump of what it held."""
    bounded.close_helpers()
    files = bounded.run(hostile.process, b"", seconds=30, memory_bytes=512 * MIB)
    assert files["core"] == [0, 0]
    again = bounded.run(hostile.process, b"", seconds=30, memory_bytes=512 * MIB)
    assert again["pid"] == files["pid"]  # reused within its pool
    own = bounded.run(hostile.process, b"", seconds=30, memory_bytes=512 * MIB,
                      pool=bounded.OWN)
    assert own["pid"] != files["pid"]
    fresh = bounded.run(hostile.process, b"", seconds=30, memory_bytes=512 * MIB, fresh=True)
    assert fresh["pid"] not in (files["pid"], own["pid"])
    after = bounded.run(hostile.process, b"", seconds=30, memory_bytes=512 * MIB)
    assert after["pid"] != fresh["pid"]
    bounded.close_helpers()


def test_prestarted_helpers_import_what_they_are_told_and_are_the_ones_used():
    """A court bundle starts its layout helpers before its own set-up: they import the given
    modules first, and are the helpers the calls of that pool then get; a second prestart
    starts none (those idle count); another pool's call does not take them."""
    bounded.close_helpers()
    bounded.prestart(2, memory_bytes=512 * MIB, pool=bounded.OWN, preload=("colorsys",))
    bounded.prestart(2, memory_bytes=512 * MIB, pool=bounded.OWN, preload=("colorsys",))
    started = {helper.process.pid for helper in list(bounded._idle.queue)}
    assert len(started) == 2
    files = bounded.run(hostile.has_module, b"colorsys", seconds=30, memory_bytes=512 * MIB)
    assert files["pid"] not in started and not files["loaded"]
    own = bounded.run(hostile.has_module, b"colorsys", seconds=30, memory_bytes=512 * MIB,
                      pool=bounded.OWN)
    assert own["pid"] in started and own["loaded"]
    with pytest.raises(ValueError, match="not a module name"):
        bounded.prestart(1, memory_bytes=512 * MIB, pool=bounded.OWN, preload=("os; x",))
    bounded.close_helpers()


def test_a_helper_never_imports_from_the_working_folder(tmp_path, monkeypatch):
    """A server or `casefile ingest` started in a collector's folder (a drive that may hold a
    planted `casefile` package) starts helpers that import this process's `casefile`, never
    the folder's (review finding: `python -c` put the working folder first on their path)."""
    planted = tmp_path / "drive"
    marker = tmp_path / "planted-code-ran"
    (planted / "casefile" / "vault").mkdir(parents=True)
    (planted / "casefile" / "__init__.py").write_text("")
    (planted / "casefile" / "vault" / "__init__.py").write_text("")
    (planted / "casefile" / "vault" / "bounded.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
    )
    bounded.close_helpers()  # helpers started elsewhere
    monkeypatch.chdir(planted)
    try:
        assert bounded.run(hostile.echo, b"drive", seconds=30, memory_bytes=512 * MIB) == {
            "length": 5,
            "head": "drive",
        }
    finally:
        bounded.close_helpers()  # none kept that started in the planted folder
    assert not marker.exists()

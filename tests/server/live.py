"""`casefile serve` (tests.live_server) on an instance made by `casefile init`, on a database of
its own, with an investigator's API token; and raw-socket clients that send slowly."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from casefile.cli import main
from casefile.db import Database
from casefile.model import Role
from tests.factories import add_member, bearer, make_case, make_user
from tests.live_server import free_port, serving

__all__ = ["Live", "casefile_serve", "free_port", "multipart", "read_response"]


@dataclass
class Live:
    url: str
    port: int
    case_id: uuid.UUID
    token: dict[str, str]
    database_url: str
    log: Path
    env: dict[str, str] | None = None  # what the server's (and the CLI's) settings come from
    pid: int = 0  # of `casefile serve`: the gunicorn master


@contextmanager
def casefile_serve(
    tmp_path: Path,
    database_url: str,
    *args: str,
    config: str = "",
    env: dict[str, str] | None = None,
) -> Iterator[Live]:
    """`env` adds to or overrides the instance's environment (e.g. another storage URL)."""
    config_file = tmp_path / "casefile.toml"
    config_file.write_text(config)
    env = {
        "CASEFILE_INSTANCE": str(tmp_path / "instance"),
        "CASEFILE_DATABASE_URL": database_url,
        "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "CASEFILE_CONFIG": str(config_file),
        **(env or {}),
    }
    assert CliRunner().invoke(main, ["init"], env=env, catch_exceptions=False).exit_code == 0
    database = Database.from_url(database_url)
    with database.sessions() as session:
        lead = make_user(session, "lead@example.org")
        investigator = make_user(session, "investigator@example.org")
        case = make_case(session, lead)
        add_member(session, case, lead, investigator, Role.INVESTIGATOR)
        token = bearer(session, investigator)
        case_id = case.id
    database.engine.dispose()

    with serving(env, tmp_path, *args) as server:
        yield Live(
            server.url, server.port, case_id, token, database_url, server.log, env, server.pid
        )


def multipart(fields: dict[str, str], filename: str) -> tuple[bytes, bytes, str]:
    """(everything before the file's bytes, everything after, the Content-Type)."""
    boundary = uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, f"multipart/form-data; boundary={boundary}"


def read_response(sock: socket.socket, timeout: float = 30) -> tuple[int, bytes]:
    """The status and body of the one response on `sock` (the server closes or sends all)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        None,
    )
    while length is not None and len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, body

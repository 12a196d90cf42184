"""The S3 endpoint becomes unreachable (its server stopped, the port closed): uploads and
downloads get 503 `unavailable` with Retry-After (never 201, never 500), /readyz says not
ready; once the endpoint is back on the same address, everything works and nothing
acknowledged was lost.

The S3 server is a moto server of this test's own (the session's shared one must stay up);
moto keeps its buckets in this process, so a server started again on the same port serves
the same objects, as a restarted S3-compatible service would."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.faults.vault_checks import MIB, Ledger, assert_json_error
from tests.server.live import casefile_serve, free_port
from tests.stores import BUCKET, REGION

pytestmark = pytest.mark.slow


class Endpoint:
    """A moto S3 server that can be stopped and started again on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: object | None = None

    def start(self) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only for this test

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()  # type: ignore[attr-defined]
            self._server = None


@pytest.fixture
def s3_endpoint(aws_credentials: None) -> Iterator[Endpoint]:
    del aws_credentials
    endpoint = Endpoint()
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


@pytest.fixture
def ledger(tmp_path: Path, fresh_database_url: str, s3_endpoint: Endpoint) -> Iterator[Ledger]:
    from casefile.vault.s3store import make_client  # noqa: PLC0415

    prefix = f"faults-{tmp_path.name[-12:]}"
    client = make_client(s3_endpoint.url, REGION)
    # moto's state outlives a server: another test may have made the bucket already
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    client.close()
    env = {
        "CASEFILE_STORAGE_URL": f"s3://{BUCKET}/{prefix}",
        "CASEFILE_S3_ENDPOINT_URL": s3_endpoint.url,
    }
    config = f'[storage]\ns3_region = "{REGION}"\ns3_part_mb = 5\n'
    with casefile_serve(tmp_path, fresh_database_url, config=config, env=env) as live:
        yield Ledger(live)


def test_an_unreachable_s3_endpoint_answers_503_and_loses_nothing(ledger, s3_endpoint):
    live = ledger.live
    assert ledger.upload(MIB).status_code == 201
    assert ledger.upload(6 * MIB).status_code == 201  # a multipart upload
    stored = next(iter(ledger.acknowledged))

    s3_endpoint.stop()
    for size in (MIB, 6 * MIB):
        refused = ledger.upload(size)
        assert_json_error(refused, 503, "unavailable")
        assert int(refused.headers["Retry-After"]) > 0
    download = requests.get(
        f"{live.url}/api/v1/evidence/{stored}/content", headers=live.token, timeout=60
    )
    assert_json_error(download, 503, "unavailable")
    ready = requests.get(f"{live.url}/readyz", timeout=60)
    assert ready.status_code == 503
    assert ready.json()["checks"]["blob_store"] != "ok"
    # Metadata does not need the store: the case still lists what it holds, and only that.
    assert ledger.listed() == set(ledger.acknowledged)
    scrub = ledger.cli("scrub", "--grace-minutes", "0")
    assert scrub.exit_code == 1
    assert "evidence store cannot be reached" in scrub.output

    s3_endpoint.start()
    assert requests.get(f"{live.url}/readyz", timeout=60).status_code == 200
    assert ledger.upload(6 * MIB).status_code == 201
    ledger.assert_intact()

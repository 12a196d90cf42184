"""Blob store fixtures: the same tests run on the local folder store and on S3.

S3 is moto's standalone server, started once per test session in this process, listening on
127.0.0.1 on a free port and nowhere else; its bucket has Object Lock enabled. Each S3 test
gets a fresh prefix in that bucket. AWS credentials are dummies set for the test only, and
no AWS configuration file of the machine is read.

Use with `pytest_plugins = ("tests.stores",)` in the root conftest.py, or in a test module
that does not import this one (pytest would then warn that it cannot rewrite its asserts).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from casefile.vault.blobstore import BlobStore, LocalBlobStore
from casefile.vault.s3store import S3BlobStore, make_client

STORES = ("local", "s3")
BUCKET = "casefile-test"
REGION = "us-east-1"
PART_MB = 5  # S3's smallest part, so a few MiB already make a multipart upload
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": "/nonexistent/casefile-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/casefile-test-aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    client: Any  # an admin client for looking at the bucket directly
    region: str = REGION
    part_mb: int = PART_MB

    def fresh_prefix(self) -> str:
        return f"t-{secrets.token_hex(6)}"

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"


def _set_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - only when an S3 test runs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        assert host == "127.0.0.1"
        endpoint = f"http://{host}:{port}"
        with pytest.MonkeyPatch.context() as patch:
            _set_credentials(patch)
            client = make_client(endpoint, REGION)
        client.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        yield S3Server(endpoint_url=endpoint, bucket=BUCKET, client=client)
        client.close()
    finally:
        server.stop()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    _set_credentials(monkeypatch)


@pytest.fixture
def s3_store(s3_server: S3Server, aws_credentials: None) -> Iterator[S3BlobStore]:
    store = S3BlobStore.from_url(
        s3_server.url(s3_server.fresh_prefix()),
        endpoint_url=s3_server.endpoint_url,
        region=REGION,
        part_mb=PART_MB,
    )
    yield store
    store.client.close()


@pytest.fixture(params=STORES)
def blob_store(request: pytest.FixtureRequest, tmp_path: Any) -> BlobStore:
    """A fresh, empty store: a folder under tmp_path, or a fresh prefix in the S3 bucket."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    store: S3BlobStore = request.getfixturevalue("s3_store")
    return store


@dataclass(frozen=True)
class StoreView:
    """A test's view of a blob store of either kind, as someone with access to the storage
    (not to the app) sees it: what it holds, and the raw bytes of a blob, to read or tamper
    with. Blobs are named by item id (a UUID string or its hex)."""

    store: BlobStore

    @staticmethod
    def _hex(item_id: str) -> str:
        return item_id.replace("-", "")

    def contents(self) -> list[str]:
        """Every blob and every leftover (an interrupted write), sorted."""
        return sorted(
            [f"blob {blob_id}" for blob_id in self.store.blob_ids()]
            + [f"leftover {name}" for name in self.store.leftovers()]
        )

    def blob(self, item_id: str) -> str:
        return f"blob {self._hex(item_id)}"

    def holding(self, marker: bytes) -> list[str]:
        """The blobs whose stored bytes contain `marker` (plaintext where only ciphertext
        belongs)."""
        return [blob_id for blob_id in self.store.blob_ids() if marker in self.raw(blob_id)]

    def raw(self, item_id: str) -> bytes:
        with self.store.open(self._hex(item_id)) as handle:
            return handle.read()

    def replace(self, item_id: str, data: bytes) -> None:
        blob_id = self._hex(item_id)
        if isinstance(self.store, LocalBlobStore):
            self._path(blob_id).write_bytes(data)
        else:
            store: S3BlobStore = self.store  # type: ignore[assignment]
            store.client.put_object(Bucket=store.bucket, Key=store.key(blob_id), Body=data)

    def remove(self, item_id: str) -> None:
        blob_id = self._hex(item_id)
        if isinstance(self.store, LocalBlobStore):
            self._path(blob_id).unlink()
        else:
            store: S3BlobStore = self.store  # type: ignore[assignment]
            store.client.delete_object(Bucket=store.bucket, Key=store.key(blob_id))

    def put(self, item_id: str, data: bytes) -> None:
        """A complete blob, through the store's own writer (an orphan, if no item has it)."""
        writer = self.store.writer(self._hex(item_id))
        writer.write(data)
        writer.commit()

    def any_copy_of(self, item_id: str) -> bool:
        """Whether any bytes of the blob remain, old S3 object versions included."""
        blob_id = self._hex(item_id)
        if isinstance(self.store, LocalBlobStore):
            return self._path(blob_id).exists()
        store: S3BlobStore = self.store  # type: ignore[assignment]
        listed = store.client.list_object_versions(Bucket=store.bucket, Prefix=store.key(blob_id))
        return bool(listed.get("Versions"))

    def _path(self, blob_id: str) -> Any:
        assert isinstance(self.store, LocalBlobStore)
        return self.store.root / blob_id[:2] / blob_id[2:4] / blob_id


@pytest.fixture(params=STORES)
def settings_on_each_store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """App settings with the blob store on the local folder, then on S3. A module runs all
    its tests on both by defining `settings` as this."""
    from tests.factories import make_settings  # noqa: PLC0415 - factories import the app

    if request.param == "local":
        return make_settings(tmp_path)
    s3: S3Server = request.getfixturevalue("s3_server")
    request.getfixturevalue("aws_credentials")
    return make_settings(
        tmp_path,
        storage_url=s3.url(s3.fresh_prefix()),
        s3_endpoint_url=s3.endpoint_url,
        s3_region=s3.region,
        s3_part_mb=s3.part_mb,
    )


@pytest.fixture
def stored(settings: Any) -> StoreView:
    """The app's blob store, as StoreView shows it."""
    from casefile.vault.blobstore import open_store  # noqa: PLC0415 - beside the fixture

    return StoreView(open_store(settings.storage_url, settings))


@pytest.fixture
def temp_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every temporary file the app asks for, unnamed ones too (which a scan of the folder
    misses). The S3 leg's moto server runs in this process and spools what it receives
    (ciphertext, the app's multipart parts and chunks): only the app's own calls count."""
    import tempfile  # noqa: PLC0415 - beside the fixture that patches it
    import traceback  # noqa: PLC0415

    from werkzeug import formparser  # noqa: PLC0415

    made: list[str] = []
    targets: list[tuple[Any, str]] = [
        (tempfile, name)
        for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp")
    ]
    targets.append((formparser, "SpooledTemporaryFile"))
    for module, name in targets:
        real = getattr(module, name)

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            if not any("/moto/" in frame.filename for frame in traceback.extract_stack()):
                made.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return made

"""The blob store contract, run on both stores (local folder and S3 via moto's server), then
what only S3 has: multipart parts, keys, Object Lock, resumed reads, and the whole app on S3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from casefile import create_app
from casefile.logic.evidence.intake import IntakeStream
from casefile.settings import Settings, SettingsError, load_settings
from casefile.vault.blobstore import BlobStoreError, LocalBlobStore, open_store
from casefile.vault.envelope import Keyring
from casefile.vault.s3store import MIB, S3BlobStore, make_client, parse_url
from tests.factories import bearer, make_case, make_settings, make_user

MARKER = b"WITNESS-W17-PLAINTEXT-MARKER"
PART_MB = 5  # as tests.stores sets up the S3 store: S3's smallest part
REGION = "us-east-1"
BAD_IDS = (
    "",
    "a" * 31,
    "a" * 33,
    "A" * 32,
    "g" * 32,
    "../" + "a" * 29,
    "aa/" + "a" * 29,
    "a" * 32 + "/",
    "a" * 31 + "\x00",
)


def part_size(store) -> int:
    return store.part_size if isinstance(store, S3BlobStore) else PART_MB * MIB


def new_id() -> str:
    return uuid.uuid4().hex


def put(store, blob_id: str, data: bytes) -> None:
    writer = store.writer(blob_id)
    writer.write(data)
    writer.commit()


def read_all(store, blob_id: str, size: int = 1_000_003) -> bytes:
    out = bytearray()
    with store.open(blob_id) as blob:
        while chunk := blob.read(size):
            out += chunk
    return bytes(out)


@pytest.fixture
def keyring(tmp_path):
    path = tmp_path / "kek.json"
    Keyring.create_file(path)
    return Keyring.load(path)


# --- the contract, on both stores -----------------------------------------------------------


def test_20_mib_round_trip_in_parts(blob_store):
    data = secrets.token_bytes(20 * MIB)
    blob_id = new_id()
    writer = blob_store.writer(blob_id)
    step = 1_048_593  # not a divisor of the part size
    for start in range(0, len(data), step):
        assert writer.write(data[start : start + step]) == len(data[start : start + step])
        if isinstance(blob_store, S3BlobStore):  # memory: never more than one part
            assert len(writer._buffer) < part_size(blob_store)
    writer.close()
    assert not blob_store.exists(blob_id)
    writer.commit()
    assert blob_store.exists(blob_id)
    assert read_all(blob_store, blob_id) == data
    if isinstance(blob_store, S3BlobStore):
        head = blob_store.client.head_object(Bucket=blob_store.bucket, Key=blob_store.key(blob_id))
        assert head["ContentLength"] == len(data)
        assert head["ETag"].strip('"').endswith("-4")  # four parts of 5 MiB


def test_a_blob_is_invisible_until_committed(blob_store):
    blob_id = new_id()
    writer = blob_store.writer(blob_id)
    writer.write(b"x" * (part_size(blob_store) + 10))
    writer.write(b"the last segment")
    writer.close()  # as Tink's stream does when it is finished
    assert not blob_store.exists(blob_id)
    assert list(blob_store.blob_ids()) == []
    with pytest.raises(BlobStoreError, match="missing"):
        blob_store.open(blob_id)
    writer.commit()
    assert list(blob_store.blob_ids()) == [blob_id]
    assert list(blob_store.leftovers()) == []


def test_abort_leaves_nothing_not_even_a_leftover(blob_store):
    blob_id = new_id()
    writer = blob_store.writer(blob_id)
    writer.write(b"y" * (part_size(blob_store) + 1))  # S3: the upload has begun
    writer.abort()
    assert not blob_store.exists(blob_id)
    assert list(blob_store.blob_ids()) == []
    assert list(blob_store.leftovers()) == []
    closed = blob_store.writer(blob_id)
    closed.write(b"all of it")
    closed.close()
    closed.abort()
    assert list(blob_store.blob_ids()) == [] and list(blob_store.leftovers()) == []


def test_an_unfinished_write_is_a_leftover_until_removed(blob_store):
    blob_id = new_id()
    writer = blob_store.writer(blob_id)
    writer.write(b"z" * 1000)
    writer.close()  # then the process dies before commit()
    [leftover] = blob_store.leftovers()
    assert blob_id in leftover
    assert list(blob_store.blob_ids()) == []
    blob_store.remove_leftover(leftover)
    assert list(blob_store.leftovers()) == []
    assert not blob_store.exists(blob_id)


def test_remove_leftover_refuses_what_is_not_one(blob_store):
    blob_id = new_id()
    put(blob_store, blob_id, b"evidence")
    for name in (blob_id, "../x.tmp-1", f"upload:{blob_id}", "upload:", "upload:a/b:c", ""):
        with pytest.raises(BlobStoreError, match="not a leftover"):
            blob_store.remove_leftover(name)
    assert read_all(blob_store, blob_id) == b"evidence"


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_are_refused(blob_store, bad):
    for call in (blob_store.writer, blob_store.open, blob_store.delete, blob_store.exists):
        with pytest.raises(BlobStoreError, match="not a blob id"):
            call(bad)


def test_delete(blob_store):
    blob_id, other = new_id(), new_id()
    put(blob_store, blob_id, b"to be shredded")
    put(blob_store, other, b"to be kept")
    blob_store.delete(blob_id)
    assert not blob_store.exists(blob_id)
    assert list(blob_store.blob_ids()) == [other]
    with pytest.raises(BlobStoreError, match="missing"):
        blob_store.open(blob_id)
    blob_store.delete(blob_id)  # deleting what is gone is not an error
    assert read_all(blob_store, other) == b"to be kept"


def test_exists_blob_ids_and_no_overwrite(blob_store):
    ids = [new_id() for _ in range(3)]
    for number, blob_id in enumerate(ids):
        put(blob_store, blob_id, f"blob {number}".encode())
    assert list(blob_store.blob_ids()) == sorted(ids)
    assert all(blob_store.exists(blob_id) for blob_id in ids)
    assert not blob_store.exists(new_id())
    with pytest.raises(BlobStoreError, match="exists already"):
        blob_store.writer(ids[0])
    assert read_all(blob_store, ids[0]) == b"blob 0"


def test_an_empty_blob(blob_store):
    blob_id = new_id()
    put(blob_store, blob_id, b"")
    assert blob_store.exists(blob_id)
    assert read_all(blob_store, blob_id) == b""


def test_intake_stream_encrypts_into_either_store(blob_store, keyring):
    content = MARKER + secrets.token_bytes(6 * MIB)
    stream = IntakeStream(blob_store, keyring)
    for start in range(0, len(content), 300_001):
        stream.write(content[start : start + 300_001])
    received = stream.finish()
    blob_id = received.item_id.hex
    assert list(blob_store.blob_ids()) == [blob_id] and list(blob_store.leftovers()) == []
    ciphertext = read_all(blob_store, blob_id)
    assert MARKER not in ciphertext
    cipher = keyring.unwrap(received.wrapped_key, received.item_id.bytes)
    with blob_store.open(blob_id) as blob:
        plain = cipher.new_decrypting_stream(blob, received.item_id.bytes)
        assert hashlib.sha256(plain.read()).hexdigest() == received.sha256


# --- S3 only --------------------------------------------------------------------------------


def test_an_id_with_a_trailing_newline_is_refused(s3_store):
    # BLOB_ID ends in `$`, which matches before a final newline: the S3 store uses fullmatch.
    for call in (s3_store.writer, s3_store.open, s3_store.delete, s3_store.exists):
        with pytest.raises(BlobStoreError, match="not a blob id"):
            call(new_id() + "\n")


def test_keys_are_the_prefix_and_the_id_only(s3_store):
    blob_id = new_id()
    put(s3_store, blob_id, b"ciphertext")
    listing = s3_store.client.list_objects_v2(Bucket=s3_store.bucket, Prefix=s3_store.prefix)
    assert [entry["Key"] for entry in listing["Contents"]] == [
        f"{s3_store.prefix}/{blob_id[:2]}/{blob_id}"
    ]


def test_other_prefixes_and_foreign_keys_are_not_ours(s3_store, s3_server):
    admin = s3_server.client
    prefix = s3_store.prefix
    admin.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/notes.txt", Body=b"x")
    admin.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/zz/{new_id()}", Body=b"x")
    admin.put_object(Bucket=s3_server.bucket, Key=f"{prefix}x/{new_id()[:2]}/a", Body=b"x")
    neighbour = S3BlobStore(s3_store.client, s3_server.bucket, f"{prefix}-neighbour")
    writer = neighbour.writer(new_id())
    writer.write(b"unfinished")
    writer.close()
    put(neighbour, new_id(), b"committed")
    assert list(s3_store.blob_ids()) == []
    assert list(s3_store.leftovers()) == []
    [leftover] = neighbour.leftovers()
    with pytest.raises(BlobStoreError, match="not a leftover"):
        s3_store.remove_leftover(leftover)
    assert list(neighbour.leftovers()) == [leftover]


def test_a_leftover_names_its_key_and_upload(s3_store):
    blob_id = new_id()
    writer = s3_store.writer(blob_id)
    writer.write(b"q" * (part_size(s3_store) + 5))  # the first part went up
    [leftover] = s3_store.leftovers()
    key = s3_store.key(blob_id)
    assert leftover.startswith(f"upload:{key}:")
    upload_id = leftover.removeprefix(f"upload:{key}:")
    uploads = s3_store.client.list_multipart_uploads(Bucket=s3_store.bucket, Prefix=key)
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload_id]
    assert s3_store.modified(leftover) is not None
    s3_store.remove_leftover(leftover)
    s3_store.remove_leftover(leftover)  # already gone: fine
    assert list(s3_store.leftovers()) == []
    with pytest.raises(BlobStoreError, match="failed"):  # its upload went with it
        writer.commit()


def test_commit_without_close_sends_the_last_part(s3_store):
    blob_id = new_id()
    writer = s3_store.writer(blob_id)
    writer.write(b"short")
    writer.commit()
    assert read_all(s3_store, blob_id) == b"short"
    with pytest.raises(ValueError, match="committed"):
        writer.write(b"after")


def test_a_failed_upload_is_a_blob_store_error(s3_server, aws_credentials):
    store = S3BlobStore(make_client(s3_server.endpoint_url, REGION), "no-such-bucket", "p")
    writer = store.writer(new_id())
    writer.write(b"lost")
    with pytest.raises(BlobStoreError, match="failed"):
        writer.commit()
    writer.abort()
    with pytest.raises(BlobStoreError, match="failed"):
        list(store.blob_ids())
    store.client.close()


def test_reading_resumes_after_a_dropped_connection(s3_store, s3_server, caplog):
    data = secrets.token_bytes(3 * MIB)
    blob_id = new_id()
    put(s3_store, blob_id, data)
    with s3_store.open(blob_id) as blob:
        first = blob.read(100_000)
        raw = blob.raw
        body = raw._body

        class Dropped:
            def read(self, _size):
                raise ResponseStreamingError(error="connection reset by peer")

            def close(self):
                body.close()

        raw._body = Dropped()
        rest = blob.read()
    assert first + rest == data
    assert "resuming blob" in caplog.text

    # A blob replaced in between is never spliced onto what was read.
    other = new_id()
    put(s3_store, other, data)
    with s3_store.open(other) as blob:
        blob.read(100_000)
        s3_server.client.put_object(
            Bucket=s3_store.bucket, Key=s3_store.key(other), Body=b"replaced"
        )
        blob.raw._body.close()
        blob.raw._body = Dropped()
        with pytest.raises(BlobStoreError, match="failed"):
            blob.read()


def test_object_lock_uploads_in_compliance_mode(s3_server, aws_credentials):
    store = S3BlobStore.from_url(
        s3_server.url(s3_server.fresh_prefix()),
        endpoint_url=s3_server.endpoint_url,
        region=REGION,
        object_lock_days=1,
        part_mb=PART_MB,
    )
    sent = {}

    def remember(params, model, **_):
        sent.setdefault(model.name, []).append(dict(params))

    store.client.meta.events.register("provide-client-params.s3.*", remember)
    blob_id = new_id()
    data = secrets.token_bytes(6 * MIB)
    before = dt.datetime.now(dt.UTC)
    put(store, blob_id, data)
    assert read_all(store, blob_id) == data
    [create] = sent["CreateMultipartUpload"]
    assert create["ObjectLockMode"] == "COMPLIANCE"
    until = create["ObjectLockRetainUntilDate"]
    assert dt.timedelta(hours=23, minutes=59) < until - before < dt.timedelta(days=1, minutes=1)
    assert all("ContentMD5" in part for part in sent["UploadPart"])
    assert len(sent["UploadPart"]) == 2
    head = store.client.head_object(Bucket=store.bucket, Key=store.key(blob_id))
    store.client.close()
    if head.get("ObjectLockMode") is None:
        pytest.skip(
            "moto's server does not apply ObjectLockMode/ObjectLockRetainUntilDate given to "
            "CreateMultipartUpload (it does for PutObject); the request was checked above"
        )
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC)


def test_deleting_a_locked_blob_is_crypto_shredding_only(s3_store, s3_server):
    """A version under compliance retention cannot be removed, by anyone. delete() then
    hides it (delete marker): the store no longer lists or serves it; S3 keeps the
    undecryptable bytes until the retention ends."""
    admin = s3_server.client
    blob_id = new_id()
    key = s3_store.key(blob_id)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    admin.put_object(
        Bucket=s3_store.bucket,
        Key=key,
        Body=b"locked ciphertext",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=until,
    )
    assert admin.head_object(Bucket=s3_store.bucket, Key=key)["ObjectLockMode"] == "COMPLIANCE"
    s3_store.delete(blob_id)
    assert not s3_store.exists(blob_id)
    assert list(s3_store.blob_ids()) == []
    with pytest.raises(BlobStoreError, match="missing"):
        s3_store.open(blob_id)
    s3_store.delete(blob_id)  # again: still fine, no second marker needed
    versions = admin.list_object_versions(Bucket=s3_store.bucket, Prefix=key)
    [kept] = versions["Versions"]
    assert len(versions["DeleteMarkers"]) == 1
    with pytest.raises(ClientError) as refused:
        admin.delete_object(Bucket=s3_store.bucket, Key=key, VersionId=kept["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_delete_removes_every_version_when_nothing_is_locked(s3_store, s3_server):
    blob_id = new_id()
    put(s3_store, blob_id, b"ciphertext")
    s3_store.delete(blob_id)
    versions = s3_server.client.list_object_versions(
        Bucket=s3_store.bucket, Prefix=s3_store.key(blob_id)
    )
    assert versions.get("Versions", []) == [] and versions.get("DeleteMarkers", []) == []


# --- configuration --------------------------------------------------------------------------


def test_s3_urls():
    assert parse_url("s3://evidence/prod/mm") == ("evidence", "prod/mm")
    assert parse_url("s3://evidence") == ("evidence", "")
    assert parse_url("s3://evidence/prod/") == ("evidence", "prod")
    for bad in ("s3:///prefix", "s3://b/a//b", "s3://b/../x", "s3://b/p?x=1", "file:///x"):
        with pytest.raises(BlobStoreError):
            parse_url(bad)


def test_open_store_dispatches_with_the_storage_settings(tmp_path, aws_credentials):
    settings = Settings(
        storage_url="s3://evidence/prod",
        s3_endpoint_url="http://127.0.0.1:1",
        s3_region="eu-central-1",
        object_lock_days=30,
        s3_part_mb=16,
    )
    store = open_store(settings.storage_url, settings)  # no request is made yet
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == ("evidence", "prod")
    assert store.object_lock_days == 30 and store.part_size == 16 * MIB
    assert store.client.meta.endpoint_url == "http://127.0.0.1:1"
    assert store.client.meta.region_name == "eu-central-1"
    store.client.close()
    assert isinstance(open_store((tmp_path / "s").as_uri(), settings), LocalBlobStore)


def test_storage_settings_from_file_and_environment(tmp_path):
    config = tmp_path / "casefile.toml"
    config.write_text(
        'storage_url = "s3://evidence/prod"\n[storage]\ns3_endpoint_url = "https://from-file"\n'
        's3_region = "ap-southeast-1"\nobject_lock_days = 3650\ns3_part_mb = 64\n'
    )
    settings = load_settings({"CASEFILE_CONFIG": str(config), "CASEFILE_INSTANCE": str(tmp_path)})
    assert settings.s3_endpoint_url == "https://from-file"
    assert (settings.s3_region, settings.object_lock_days, settings.s3_part_mb) == (
        "ap-southeast-1",
        3650,
        64,
    )
    settings = load_settings(
        {
            "CASEFILE_CONFIG": str(config),
            "CASEFILE_INSTANCE": str(tmp_path),
            "CASEFILE_S3_ENDPOINT_URL": "http://minio.internal:9000",
        }
    )
    assert settings.s3_endpoint_url == "http://minio.internal:9000"
    defaults = load_settings({"CASEFILE_INSTANCE": str(tmp_path)})
    assert (defaults.s3_endpoint_url, defaults.s3_region) == (None, None)
    assert (defaults.object_lock_days, defaults.s3_part_mb) == (0, 8)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"s3_part_mb": 4}, "s3_part_mb"),
        ({"object_lock_days": -1}, "object_lock_days"),
        ({"storage_url": "s3:///prefix"}, "needs a bucket"),
        ({"storage_url": "s3://b/p", "evidence_max_mb": 200_000}, "too small"),
    ],
)
def test_bad_storage_settings_stop_the_start(tmp_path, overrides, message):
    settings = make_settings(tmp_path, **overrides)
    with pytest.raises(SettingsError, match=message):
        settings.validate()


# --- the whole app on S3 --------------------------------------------------------------------


def multipart(content: bytes, filename: str) -> tuple[bytes, str]:
    """The body in memory: Werkzeug's test client would spool a large one to disk."""
    boundary = f"casefile-{secrets.token_hex(16)}"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n'
        "Statement W-17\r\n"
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    )
    body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_evidence_through_the_api_is_stored_encrypted_in_s3(
    tmp_path, database, session, s3_server, aws_credentials
):
    prefix = s3_server.fresh_prefix()
    settings = make_settings(
        tmp_path,
        storage_url=s3_server.url(prefix),
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region=REGION,
        s3_part_mb=PART_MB,
    )
    app = create_app(settings, database=database)
    store = app.extensions["casefile.blobs"]
    assert isinstance(store, S3BlobStore)
    client = app.test_client()
    lead = make_user(session, "lead@example.org")
    case = make_case(session, lead)
    headers = bearer(session, lead)
    content = MARKER + secrets.token_bytes(6 * MIB) + MARKER

    body, mimetype = multipart(content, "statement.bin")
    response = client.post(
        f"/api/v1/cases/{case.id}/evidence", data=body, content_type=mimetype, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    item = response.get_json()
    assert item["sha256"] == hashlib.sha256(content).hexdigest()

    download = client.get(f"/api/v1/evidence/{item['id']}/content", headers=headers)
    assert download.status_code == 200
    assert download.get_data() == content

    blob_id = uuid.UUID(item["id"]).hex
    key = f"{prefix}/{blob_id[:2]}/{blob_id}"
    listing = s3_server.client.list_objects_v2(Bucket=s3_server.bucket, Prefix=prefix)
    assert [entry["Key"] for entry in listing["Contents"]] == [key]
    stored = s3_server.client.get_object(Bucket=s3_server.bucket, Key=key)
    assert stored["ETag"].strip('"').endswith("-2")  # a multipart upload
    ciphertext = stored["Body"].read()
    assert MARKER not in ciphertext
    assert content[len(MARKER) : len(MARKER) + 64] not in ciphertext
    assert list(store.leftovers()) == []
    assert not any(path.is_file() for path in (tmp_path / "storage").rglob("*"))

    again = client.post(
        f"/api/v1/cases/{case.id}/evidence", data=body, content_type=mimetype, headers=headers
    )
    assert again.status_code == 200 and "duplicate" in again.get_json()["flags"]
    assert list(store.blob_ids()) == [blob_id]  # the second copy was removed

    deleted = client.delete(
        f"/api/v1/evidence/{item['id']}", headers=headers, json={"reason": "test of deletion"}
    )
    assert deleted.status_code == 200, deleted.get_json()
    assert list(store.blob_ids()) == []
    store.client.close()

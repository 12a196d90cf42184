"""Encrypted blobs in an S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...).

`storage_url = "s3://bucket/prefix"`; a blob lives at `<prefix>/<id[:2]>/<id>`, named from
its id only. Credentials come from boto3's usual sources (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, a profile, an instance or pod role), never from Casefile's own files.

Writing is a multipart upload, streamed: at most one part (`storage.s3_part_mb`, 5 MiB or
more) is held in memory. `close()` uploads the last part; only `commit()` completes the upload,
and S3 makes an object visible only then, whole. An interrupted write leaves an incomplete
multipart upload, listed by `leftovers()` as `upload:<key>:<upload id>` and aborted by
`remove_leftover()` (`casefile scrub --repair`). A lifecycle rule that aborts incomplete
multipart uploads after a few days is a good second net on the bucket.

Object Lock: with `storage.object_lock_days > 0` every blob is uploaded in compliance mode,
retained until that many days after its upload began (the bucket must have been created with
Object Lock enabled). Nobody, the root account included, can then remove the bytes before that
date. Deleting an item is then crypto-shredding only: its data key is destroyed, and `delete()`
hides the ciphertext behind a delete marker, so the store no longer lists, reports or serves
it, while S3 keeps the retained (and now undecryptable) version until its retention ends; a
lifecycle rule expiring noncurrent versions removes it afterwards. Without Object Lock,
`delete()` removes every version of the blob.

Permissions the credentials need on the bucket: s3:ListBucket, s3:ListBucketVersions,
s3:ListBucketMultipartUploads, s3:GetObject, s3:PutObject, s3:AbortMultipartUpload,
s3:DeleteObject and s3:DeleteObjectVersion (with Object Lock also s3:PutObjectRetention).

Some S3-compatible servers reject the CRC checksums that recent botocore sends by default;
set AWS_REQUEST_CHECKSUM_CALCULATION=when_required for those.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import io
import logging
from collections.abc import Iterator
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from casefile.vault.blobstore import BLOB_ID, BlobStoreError, BlobWriter

log = logging.getLogger(__name__)

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB  # S3's floor for every part but the last
MAX_PART_SIZE = 5 * 1024 * MIB
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * MIB
READ_BUFFER = 256 * 1024
READ_RETRIES = 3  # a dropped connection mid-download resumes where it stopped
LEFTOVER_MARK = "upload:"
_MISSING = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchVersion"})
_NO_UPLOAD = frozenset({"404", "NoSuchUpload"})
_NO_VERSION_LISTING = frozenset({"NotImplemented", "MethodNotAllowed", "501"})
_STREAM_ERRORS = (BotoCoreError, OSError)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _valid_blob_id(blob_id: str) -> str:
    if not isinstance(blob_id, str) or not BLOB_ID.fullmatch(blob_id):
        raise BlobStoreError(f"not a blob id: {blob_id!r}")
    return blob_id


def parse_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` → ("bucket", "some/prefix"); the prefix may be empty."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise BlobStoreError(f"not an S3 storage URL (s3://bucket/prefix): {url!r}")
    prefix = parts.path.strip("/")
    if prefix and any(segment in ("", ".", "..") for segment in prefix.split("/")):
        raise BlobStoreError(f"the prefix of {url!r} has an empty, '.' or '..' segment")
    return parts.netloc, prefix


def make_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A thread-safe S3 client; a custom endpoint (S3-compatible server) gets path-style URLs."""
    options: dict[str, Any] = {
        "retries": {"mode": "standard", "max_attempts": 5},
        "max_pool_connections": 32,
    }
    if endpoint_url:
        options["s3"] = {"addressing_style": "path"}
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url or None,
        region_name=region or None,
        config=Config(**options),
    )


class _S3Writer:
    """One multipart upload. Parts go up as the buffer fills; close() sends the last one;
    commit() completes the upload, which is when the object appears."""

    def __init__(self, store: S3BlobStore, blob_id: str) -> None:
        self._store = store
        self._blob_id = blob_id
        self._key = store.key(blob_id)
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._state = "open"  # open → closed → committed | aborted; failed after an error

    @property
    def closed(self) -> bool:
        return self._state != "open"

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Nothing to do: a part goes up when it is full, the last one at close()."""

    def write(self, data: bytes, /) -> int:
        if self._state != "open":
            raise ValueError(f"blob writer is {self._state}")
        view = memoryview(data).cast("B")
        size = len(view)
        part_size = self._store.part_size
        while view:
            room = part_size - len(self._buffer)
            self._buffer += view[:room]
            view = view[room:]
            if len(self._buffer) >= part_size:
                self._upload_part()
        return size

    def close(self) -> None:
        """Send what is buffered as the last part. The upload stays incomplete (invisible)."""
        if self._state != "open":
            return
        if self._buffer or not self._parts:  # an empty blob is one empty part
            self._upload_part()
        self._state = "closed"

    def commit(self) -> None:
        self.close()
        if self._state != "closed" or self._upload_id is None:
            raise BlobStoreError(f"blob {self._blob_id} was not written completely")
        try:
            self._store.client.complete_multipart_upload(
                Bucket=self._store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        except (BotoCoreError, ClientError) as error:
            self._state = "failed"
            self.abort()
            raise BlobStoreError(f"storing blob {self._blob_id} failed: {error}") from error
        self._state = "committed"

    def abort(self) -> None:
        """Drop the upload and its parts. A failure here leaves a leftover for scrub."""
        if self._state == "committed":
            return
        self._state = "aborted"
        self._buffer = bytearray()
        if self._upload_id is None:
            return
        upload_id, self._upload_id = self._upload_id, None
        try:
            self._store.client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, UploadId=upload_id
            )
        except ClientError as error:
            if _code(error) not in _NO_UPLOAD:
                log.warning("could not abort upload %s of %s: %s", upload_id, self._key, error)
        except BotoCoreError as error:
            log.warning("could not abort upload %s of %s: %s", upload_id, self._key, error)

    def _upload_part(self) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            self._state = "failed"
            raise BlobStoreError(
                f"blob {self._blob_id} needs more than {MAX_PARTS} parts of "
                f"{self._store.part_size // MIB} MiB: raise storage.s3_part_mb"
            )
        try:
            if self._upload_id is None:
                self._upload_id = self._store.start_upload(self._key)
            extra: dict[str, Any] = {}
            if self._store.object_lock_days:
                # S3 wants an integrity header on every write to a locked object.
                digest = hashlib.md5(self._buffer, usedforsecurity=False).digest()
                extra["ContentMD5"] = base64.b64encode(digest).decode("ascii")
            response = self._store.client.upload_part(
                Bucket=self._store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=self._buffer,
                **extra,
            )
        except (BotoCoreError, ClientError) as error:
            self._state = "failed"
            raise BlobStoreError(
                f"uploading part {number} of blob {self._blob_id} failed: {error}"
            ) from error
        self._parts.append({"PartNumber": number, "ETag": response["ETag"]})
        self._buffer = bytearray()


class _ObjectReader(io.RawIOBase):
    """get_object's body as a raw stream. A connection dropped mid-way is resumed with a
    ranged GET of the same version (If-Match on its ETag), never spliced with another."""

    def __init__(self, store: S3BlobStore, blob_id: str) -> None:
        super().__init__()
        self._store = store
        self._blob_id = blob_id
        self._key = store.key(blob_id)
        self._position = 0
        self._body: Any = None
        self._etag: str | None = None
        self._retries = READ_RETRIES
        self._get(None)

    def _get(self, start: int | None) -> None:
        request: dict[str, Any] = {"Bucket": self._store.bucket, "Key": self._key}
        if start is not None:
            request["Range"] = f"bytes={start}-"
            request["IfMatch"] = self._etag
        try:
            response = self._store.client.get_object(**request)
        except ClientError as error:
            if _code(error) in _MISSING:
                raise BlobStoreError(f"blob {self._blob_id} is missing") from None
            raise BlobStoreError(f"reading blob {self._blob_id} failed: {error}") from error
        except BotoCoreError as error:
            raise BlobStoreError(f"reading blob {self._blob_id} failed: {error}") from error
        self._body = response["Body"]
        self._etag = response.get("ETag")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        while True:
            try:
                data = self._body.read(len(target))
                break
            except _STREAM_ERRORS as error:
                if self._retries <= 0 or self._etag is None:
                    raise BlobStoreError(f"reading blob {self._blob_id} failed: {error}") from error
                self._retries -= 1
                self._close_body()
                log.warning("resuming blob %s at byte %d: %s", self._blob_id, self._position, error)
                self._get(self._position)
        size = len(data)
        target[:size] = data
        self._position += size
        return size

    def _close_body(self) -> None:
        if self._body is not None:
            with contextlib.suppress(*_STREAM_ERRORS):
                self._body.close()
            self._body = None

    def close(self) -> None:
        if not self.closed:
            self._close_body()
        super().close()


class S3BlobStore:
    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        object_lock_days: int = 0,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if not MIN_PART_SIZE <= part_size <= MAX_PART_SIZE:
            raise BlobStoreError("S3 parts must be between 5 MiB and 5 GiB")
        if object_lock_days < 0:
            raise BlobStoreError("object_lock_days must be 0 (off) or more")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.object_lock_days = object_lock_days
        self.part_size = part_size
        self._listing = f"{self.prefix}/" if self.prefix else ""

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        object_lock_days: int = 0,
        part_mb: int = DEFAULT_PART_SIZE // MIB,
    ) -> S3BlobStore:
        bucket, prefix = parse_url(url)
        return cls(
            make_client(endpoint_url, region),
            bucket,
            prefix,
            object_lock_days=object_lock_days,
            part_size=part_mb * MIB,
        )

    def key(self, blob_id: str) -> str:
        _valid_blob_id(blob_id)
        return f"{self._listing}{blob_id[:2]}/{blob_id}"

    def _blob_id_of(self, key: str) -> str | None:
        if not key.startswith(self._listing):
            return None
        folder, _, name = key[len(self._listing) :].partition("/")
        if BLOB_ID.fullmatch(name) and folder == name[:2]:
            return name
        return None

    def start_upload(self, key: str) -> str:
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if self.object_lock_days:
            until = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.object_lock_days)
            request["ObjectLockMode"] = "COMPLIANCE"
            request["ObjectLockRetainUntilDate"] = until.replace(microsecond=0)
        return str(self.client.create_multipart_upload(**request)["UploadId"])

    # --- the BlobStore protocol -----------------------------------------------------------

    def writer(self, blob_id: str) -> BlobWriter:
        if self.exists(blob_id):
            raise BlobStoreError(f"blob {blob_id} exists already")
        return _S3Writer(self, blob_id)

    def open(self, blob_id: str) -> BinaryIO:
        raw = _ObjectReader(self, _valid_blob_id(blob_id))
        return cast(BinaryIO, io.BufferedReader(raw, buffer_size=READ_BUFFER))

    def exists(self, blob_id: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(blob_id))
        except ClientError as error:
            if _code(error) in _MISSING:
                return False
            raise BlobStoreError(f"looking up blob {blob_id} failed: {error}") from error
        except BotoCoreError as error:
            raise BlobStoreError(f"looking up blob {blob_id} failed: {error}") from error
        return True

    def delete(self, blob_id: str) -> None:
        """Remove every version of the blob. A version under Object Lock retention cannot be
        removed: the blob is then hidden behind a delete marker (crypto-shredding only)."""
        key = self.key(blob_id)
        try:
            versions, markers = self._versions(key)
        except ClientError as error:
            if _code(error) not in _NO_VERSION_LISTING:
                raise BlobStoreError(f"deleting blob {blob_id} failed: {error}") from error
            self._delete_version(blob_id, key, None)  # a server without version listing
            return
        except BotoCoreError as error:
            raise BlobStoreError(f"deleting blob {blob_id} failed: {error}") from error
        retained = [v for v in versions if not self._delete_version(blob_id, key, v)]
        if not retained:
            for marker in markers:
                self._delete_version(blob_id, key, marker)
            return
        if not any(markers.values()) and not self._delete_version(blob_id, key, None):
            raise BlobStoreError(f"blob {blob_id} could not be hidden by a delete marker")
        log.warning(
            "blob %s could not be removed (Object Lock retention, or no "
            "s3:DeleteObjectVersion permission): hidden by a delete marker, its ciphertext "
            "remains in the bucket",
            blob_id,
        )

    def _versions(self, key: str) -> tuple[list[str], dict[str, bool]]:
        versions: list[str] = []
        markers: dict[str, bool] = {}  # version id → is the latest
        paginator = self.client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            versions += [v["VersionId"] for v in page.get("Versions", []) if v["Key"] == key]
            for marker in page.get("DeleteMarkers", []):
                if marker["Key"] == key:
                    markers[marker["VersionId"]] = bool(marker.get("IsLatest"))
        return versions, markers

    def _delete_version(self, blob_id: str, key: str, version: str | None) -> bool:
        """False when Object Lock retention refuses; other failures raise BlobStoreError."""
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version is not None:
            request["VersionId"] = version
        try:
            self.client.delete_object(**request)
        except ClientError as error:
            code = _code(error)
            if code in _MISSING:
                return True
            if code in ("AccessDenied", "InvalidRequest", "ObjectLocked") and version:
                return False
            raise BlobStoreError(f"deleting blob {blob_id} failed: {error}") from error
        except BotoCoreError as error:
            raise BlobStoreError(f"deleting blob {blob_id} failed: {error}") from error
        return True

    def blob_ids(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._listing):
                for entry in page.get("Contents", []):
                    blob_id = self._blob_id_of(entry["Key"])
                    if blob_id is not None:
                        yield blob_id
        except (BotoCoreError, ClientError) as error:
            raise BlobStoreError(f"listing bucket {self.bucket} failed: {error}") from error

    def _uploads(self) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_multipart_uploads")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._listing):
                for upload in page.get("Uploads", []):
                    if self._blob_id_of(upload["Key"]) is not None:
                        yield upload
        except (BotoCoreError, ClientError) as error:
            raise BlobStoreError(f"listing uploads in {self.bucket} failed: {error}") from error

    def leftovers(self) -> Iterator[str]:
        """Incomplete multipart uploads: interrupted writes, or writes still in progress."""
        for upload in self._uploads():
            yield f"{LEFTOVER_MARK}{upload['Key']}:{upload['UploadId']}"

    def _parse_leftover(self, name: str) -> tuple[str, str]:
        refused = BlobStoreError(f"{name} is not a leftover of an interrupted write")
        if not isinstance(name, str) or not name.startswith(LEFTOVER_MARK + self._listing):
            raise refused
        rest = name[len(LEFTOVER_MARK) :]
        end = len(self._listing) + 3 + 32  # "<prefix>/", "xx/" and the 32-digit id
        key, separator, upload_id = rest[:end], rest[end : end + 1], rest[end + 1 :]
        if separator != ":" or not upload_id or self._blob_id_of(key) is None:
            raise refused
        return key, upload_id

    def remove_leftover(self, name: str) -> None:
        key, upload_id = self._parse_leftover(name)
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as error:
            if _code(error) not in _NO_UPLOAD:
                raise BlobStoreError(f"removing {name} failed: {error}") from error
        except BotoCoreError as error:
            raise BlobStoreError(f"removing {name} failed: {error}") from error

    def modified(self, name: str) -> dt.datetime | None:
        """When a blob was stored or a leftover upload began, for scrub's grace period."""
        if BLOB_ID.fullmatch(name):
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self.key(name))
            except ClientError:
                return None
            return cast(dt.datetime, head["LastModified"])
        key, upload_id = self._parse_leftover(name)
        for upload in self._uploads():
            if upload["Key"] == key and upload["UploadId"] == upload_id:
                return cast(dt.datetime, upload["Initiated"])
        return None

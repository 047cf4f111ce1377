"""S3 image store: each image one object in an S3-compatible bucket, named by its sha256
(decision 0017).

The `ImageStore` port's log-shaped half maps onto S3 as follows: `append` starts one PUT
per image on a pool of threads and answers no location (an object is found by its hash
alone, as `put` stores it); `sync` waits for every PUT started since the last `sync` and
raises `ImageStoreUnavailable` if any failed, so the group commit that refers to the
images never happens and its cameras are answered 503. There are no segments: an image
is deleted on its own once no read refers to it (retention, the image sweep).
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from veille.domain.reads import ImageUpload
from veille.service.ports import ImageLocation

if TYPE_CHECKING:  # boto3 is optional (the `s3` extra): imported only when a store is built
    from botocore.credentials import Credentials
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

    from veille.adapters.s3_put import SignedPut

_SHA256 = re.compile(r"[0-9a-f]{64}")
MIN_PART_BYTES = 5 * 1024 * 1024  # S3's smallest part, except the last one of an upload
_MISSING = {"404", "NoSuchKey", "NotFound"}
_DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


def b64(digest: bytes) -> str:
    """A digest as S3's checksum headers carry it."""
    return base64.b64encode(digest).decode("ascii")


class ImageStoreUnavailable(RuntimeError):
    """The object store did not take or give back an image (unreachable, refused, ...)."""


@dataclass(frozen=True)
class S3Location:
    """Where the images are: `s3://<bucket>/<prefix>`, parsed from the setting."""

    bucket: str
    prefix: str = ""  # "" or ends with "/"

    @classmethod
    def parse(cls, url: str) -> S3Location:
        match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(/.*)?", url)
        if match is None:
            raise ValueError(f"not an s3://bucket[/prefix] URL: {url!r}")
        prefix = (match.group(2) or "").strip("/")
        return cls(match.group(1), f"{prefix}/" if prefix else "")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def object_key(prefix: str, sha256: str) -> str:
    """The key of the image with this digest: `<prefix>sha256/ab/cd/<digest>` (the two
    levels keep a filer-backed store's folders small)."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError("not a sha256 hex digest")
    return f"{prefix}sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def _code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


class S3ImageStore:
    """Content-addressed image objects in one bucket (under an optional key prefix).

    A PUT carries the image's sha256 (`x-amz-checksum-sha256`, the digest computed once
    where the image was decoded), so the server refuses bytes that do not match it; a
    `get` checks the digest again, so a damaged object is answered as missing, never as
    wrong bytes. The same bytes always go to the same key: writing them twice is
    harmless. Images of at least `multipart_threshold` bytes go up in parts of
    `part_bytes` (S3's minimum part is 5 MiB), each part checksummed.
    """

    def __init__(
        self,
        client: S3Client,
        location: S3Location,
        *,
        multipart_threshold: int = 8 * 1024 * 1024,
        part_bytes: int = 8 * 1024 * 1024,
        max_concurrency: int = 16,
        signed_put: SignedPut | None = None,
    ) -> None:
        if part_bytes < MIN_PART_BYTES:
            raise ValueError(f"part_bytes must be at least {MIN_PART_BYTES} (S3's minimum part)")
        if multipart_threshold < 1 or max_concurrency < 1:
            raise ValueError("multipart_threshold and max_concurrency must be at least 1")
        self.client = client
        self.signed_put = signed_put  # the single-request PUTs, when given (`signed_put_for`)
        self.location = location
        self.multipart_threshold = multipart_threshold
        self.part_bytes = part_bytes
        self._pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="s3-images")
        self._pending: list[Future[None]] = []  # PUTs started since the last sync
        self._lock = threading.Lock()
        self.multipart_uploads = 0  # completed, since start (observability and tests)

    # --- the ingest writer's half: start uploads, then wait for them -----------------

    def append(self, uploads: Sequence[ImageUpload]) -> list[ImageLocation | None]:
        """Start storing these images (one PUT each, in parallel); none has a location."""
        started = []
        for upload in uploads:
            sha256 = upload.ref.sha256
            if sha256 is None:
                raise ValueError("an image to store has no sha256")
            started.append(
                self._pool.submit(self._store, sha256, upload.data, upload.ref.content_type)
            )
        with self._lock:
            self._pending.extend(started)
        return [None] * len(started)

    def sync(self) -> None:
        """Wait for every image appended so far; raise if one is not stored."""
        with self._lock:
            pending, self._pending = self._pending, []
        failures: list[BaseException] = []
        for future in pending:  # every one waited for: none is left running after a failure
            failure = future.exception()
            if failure is not None:
                failures.append(failure)
        if failures:
            raise ImageStoreUnavailable(
                f"{len(failures)} of {len(pending)} images not stored in {self.location}:"
                f" {failures[0]}"
            ) from failures[0]

    def sealed_segments(self, now: float) -> Iterator[str]:
        return iter(())  # an object store has no segments

    def drop_segment(self, name: str) -> bool:
        return False

    # --- one image at a time ------------------------------------------------------------

    def put(self, sha256: str, data: bytes, content_type: str = "image/jpeg") -> None:
        """Store one image, durable (acknowledged by the store) before return."""
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ValueError("image bytes do not match their sha256")
        try:
            self._store(sha256, data, content_type)
        except Exception as exc:
            raise ImageStoreUnavailable(
                f"could not store an image in {self.location}: {exc}"
            ) from exc

    def get(self, sha256: str, at: ImageLocation | None = None) -> bytes | None:
        if at is not None:  # a location is in an image log, never in a bucket
            return None
        try:
            answer = self.client.get_object(
                Bucket=self.location.bucket, Key=object_key(self.location.prefix, sha256)
            )
            data = answer["Body"].read()
        except Exception as exc:
            if _code(exc) in _MISSING:
                return None
            raise ImageStoreUnavailable(
                f"could not read an image from {self.location}: {exc}"
            ) from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            return None  # damaged: never served as the image
        return data

    def exists(self, sha256: str) -> bool:
        try:
            self.client.head_object(
                Bucket=self.location.bucket, Key=object_key(self.location.prefix, sha256)
            )
        except Exception as exc:
            if _code(exc) in _MISSING:
                return False
            raise ImageStoreUnavailable(f"could not reach {self.location}: {exc}") from exc
        return True

    def delete(self, sha256: str) -> bool:
        """Delete the image; whether it was there (S3's DELETE does not tell: a HEAD does)."""
        if not self.exists(sha256):
            return False
        try:
            self.client.delete_object(
                Bucket=self.location.bucket, Key=object_key(self.location.prefix, sha256)
            )
        except Exception as exc:
            raise ImageStoreUnavailable(
                f"could not delete an image in {self.location}: {exc}"
            ) from exc
        return True

    def delete_many(self, sha256s: Sequence[str]) -> int:
        """Delete these images, a thousand keys a request (S3's DeleteObjects); it does
        not tell which were there, so every key it deleted without error counts."""
        keys = [object_key(self.location.prefix, sha256) for sha256 in sha256s]
        deleted = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            chunk = keys[start : start + _DELETE_BATCH]
            try:
                answer = self.client.delete_objects(
                    Bucket=self.location.bucket,
                    Delete={"Objects": [{"Key": key} for key in chunk], "Quiet": False},
                )
            except Exception as exc:
                raise ImageStoreUnavailable(
                    f"could not delete images in {self.location}: {exc}"
                ) from exc
            errors = answer.get("Errors", [])
            if errors:
                first = errors[0]
                raise ImageStoreUnavailable(
                    f"{len(errors)} of {len(chunk)} images not deleted in {self.location}:"
                    f" {first.get('Code')} {first.get('Message')}"
                )
            deleted += len(answer.get("Deleted", []))
        return deleted

    def stored_before(self, moment: float) -> Iterator[str]:
        """Digests of the images last written before `moment` (the store's clock)."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=f"{self.location.prefix}sha256/"
        )
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"].rsplit("/", 1)[-1]
                if _SHA256.fullmatch(name) and item["LastModified"].timestamp() < moment:
                    yield name

    def remove_temporaries_before(self, moment: float, *, dry_run: bool = False) -> int:
        """Abort the multipart uploads started before `moment` that were never completed
        (their process died in between: the parts take space until aborted)."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.location.bucket, Prefix=f"{self.location.prefix}sha256/"
        )
        removed = 0
        for page in pages:
            for upload in page.get("Uploads", []):
                if upload["Initiated"].timestamp() >= moment:
                    continue
                if not dry_run:
                    self.client.abort_multipart_upload(
                        Bucket=self.location.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                removed += 1
        return removed

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self.signed_put is not None:
            self.signed_put.close()

    # --- the writes ---------------------------------------------------------------------

    def _store(self, sha256: str, data: bytes, content_type: str) -> None:
        key = object_key(self.location.prefix, sha256)
        if len(data) >= self.multipart_threshold:
            self._store_in_parts(key, data, content_type)
            return
        if self.signed_put is not None:
            self.signed_put(
                bucket=self.location.bucket,
                key=key,
                data=data,
                content_type=content_type,
                sha256=bytes.fromhex(sha256),
            )
            return
        self.client.put_object(
            Bucket=self.location.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ChecksumSHA256=b64(bytes.fromhex(sha256)),
        )

    def _store_in_parts(self, key: str, data: bytes, content_type: str) -> None:
        bucket = self.location.bucket
        upload_id = self.client.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=content_type, ChecksumAlgorithm="SHA256"
        )["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, start in enumerate(range(0, len(data), self.part_bytes), start=1):
                chunk = data[start : start + self.part_bytes]
                checksum = b64(hashlib.sha256(chunk).digest())
                answer = self.client.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ChecksumSHA256=checksum,
                )
                parts.append(
                    {"ETag": answer["ETag"], "PartNumber": number, "ChecksumSHA256": checksum}
                )
            self.client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # its parts would take space until aborted; with the store down, the sweep
            # aborts the upload later (`remove_temporaries_before`)
            with suppress(Exception):
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            raise
        with self._lock:
            self.multipart_uploads += 1


def s3_client(
    *,
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    timeout_s: float,
    max_connections: int,
) -> S3Client:
    """A boto3 S3 client (path-style addressing, which every S3-compatible server takes);
    without keys, boto3's own chain (environment, profile, instance role) applies."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # an optional dependency
        raise RuntimeError("the S3 image store needs boto3: pip install 'veille[s3]'") from exc
    config = Config(
        s3={"addressing_style": "path"},
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=max_connections,
        # the sha256 we send is the checksum; no CRC32 computed on top of it, and `get`
        # checks the sha256 of what comes back
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    client: S3Client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )
    return client


def signed_put_for(
    client: S3Client,
    *,
    access_key_id: str | None,
    secret_access_key: str | None,
    timeout_s: float,
    max_connections: int,
) -> SignedPut | None:
    """The lean PUT path to the client's endpoint, signed with these keys or, without
    them, with what botocore's own chain finds; None when it finds none (boto3's
    `put_object` then serves, and says why it cannot sign)."""
    from botocore.credentials import Credentials
    from botocore.session import get_session

    from veille.adapters.s3_put import SignedPut

    credentials: Credentials | None
    if access_key_id and secret_access_key:
        credentials = Credentials(access_key_id, secret_access_key)
    else:
        credentials = get_session().get_credentials()
    if credentials is None:
        return None
    return SignedPut(
        endpoint_url=client.meta.endpoint_url,
        region=client.meta.region_name,
        credentials=credentials,
        timeout_s=timeout_s,
        max_connections=max_connections,
    )


def s3_image_store(
    location: S3Location,
    *,
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    timeout_s: float,
    max_concurrency: int,
    multipart_threshold: int,
    part_bytes: int,
) -> S3ImageStore:
    """The store with its boto3 client and its lean PUT path, one connection per upload
    in flight."""
    client = s3_client(
        endpoint_url=endpoint_url,
        region=region,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        timeout_s=timeout_s,
        max_connections=max_concurrency,
    )
    return S3ImageStore(
        client,
        location,
        multipart_threshold=multipart_threshold,
        part_bytes=part_bytes,
        max_concurrency=max_concurrency,
        signed_put=signed_put_for(
            client,
            access_key_id=access_key_id,
            secret_access_key=secret_access_key,
            timeout_s=timeout_s,
            max_connections=max_concurrency,
        ),
    )

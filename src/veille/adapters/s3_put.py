"""One S3 PutObject, signed with botocore's SigV4 signer and sent on a urllib3 pool:
the ingest path's upload without boto3's request pipeline (decision 0017 measured it at
~2.5 times the CPU per small image)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from veille.adapters.s3_images import b64

if TYPE_CHECKING:
    from botocore.credentials import Credentials

_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")
_RETRY_STATUS = (500, 502, 503, 504)


class PutRefused(RuntimeError):
    """The store answered the PUT with an error (its code and HTTP status)."""


class SignedPut:
    """PUT objects at `endpoint_url/<bucket>/<key>` (path-style), each carrying the
    SHA-256 of its body twice: as the signed payload hash (`x-amz-content-sha256`: the
    signature covers the bytes, no second hash computed) and as the object's checksum
    (`x-amz-checksum-sha256`: the store refuses bytes that do not match it).

    An upload of the same bytes to the same key is idempotent, so connection failures
    and 5xx answers are retried (three times, backing off from 0.2 s).
    """

    def __init__(
        self,
        *,
        endpoint_url: str,
        region: str,
        credentials: Credentials,
        timeout_s: float,
        max_connections: int,
    ) -> None:
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self.base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        self.region = region
        self.credentials = credentials
        self.http = urllib3.PoolManager(
            maxsize=max_connections,
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s),
            retries=urllib3.Retry(
                total=3,
                backoff_factor=0.2,
                status_forcelist=_RETRY_STATUS,
                allowed_methods=frozenset({"PUT"}),
                raise_on_status=False,
            ),
        )

    def __call__(
        self, *, bucket: str, key: str, data: bytes, content_type: str, sha256: bytes
    ) -> None:
        url = f"{self.base}/{quote(bucket)}/{quote(key, safe='/~')}"
        request = AWSRequest(
            method="PUT",
            url=url,
            data=data,
            headers={
                "Content-Type": content_type,
                "X-Amz-Content-SHA256": sha256.hex(),
                "x-amz-checksum-sha256": b64(sha256),
            },
        )
        # frozen per request: credentials from an instance role refresh themselves
        SigV4Auth(self.credentials.get_frozen_credentials(), "s3", self.region).add_auth(request)
        answer = self.http.request("PUT", url, body=data, headers=dict(request.headers.items()))
        if answer.status != 200:
            found = _CODE.search(answer.data or b"")
            code = found.group(1).decode(errors="replace") if found else "no error code"
            raise PutRefused(f"PUT {key}: HTTP {answer.status} {code}")

    def close(self) -> None:
        self.http.clear()

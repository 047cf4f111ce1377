"""The SeaweedFS server the S3 tests start: it stores, and it checks signatures."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


def test_the_server_stores_and_refuses_a_wrong_secret(seaweedfs: SeaweedFS, s3_bucket: str):
    seaweedfs.client().put_object(Bucket=s3_bucket, Key="k", Body=b"kept")
    assert seaweedfs.client().get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"kept"
    forger = SeaweedFS(seaweedfs.data_dir, access_key=seaweedfs.access_key, secret_key="wrong")
    forger.ports = seaweedfs.ports
    with pytest.raises(ClientError) as refused:
        forger.client().get_object(Bucket=s3_bucket, Key="k")
    assert refused.value.response["Error"]["Code"] in {"SignatureDoesNotMatch", "AccessDenied"}

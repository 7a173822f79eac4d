"""Document storage on disk and in S3 (a real `moto_server` S3 API on loopback), SHA-256 checked on read.

The S3 case also runs the normal service path: `workflows.services.route_start` stores the first
version through `default_storage` configured as `core.storage.s3_storage_entry` builds it, and
`workflows.signing_handler.version_read` refuses the object once it is changed in the bucket.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from django.core.files.storage import FileSystemStorage, storages

from core.storage import (
    StoredFileCorrupted,
    StoredFileMissing,
    read_verified,
    s3_storage_entry,
    store,
)

BUCKET = "dsign-documents"
CREDENTIALS = {"access_key": "dsign-test", "secret_key": "dsign-test-secret", "region": "ap-southeast-1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _moto_server_command() -> list[str]:
    script = Path(sys.executable).with_name("moto_server")
    if script.exists():
        return [str(script)]
    found = shutil.which("moto_server")
    if found is None:
        pytest.fail('moto_server is not installed: pip install "moto[server]"')
    return [found]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3 API server (moto_server) on a free loopback port, with an empty bucket."""
    port = _free_port()
    server = subprocess.Popen(
        [*_moto_server_command(), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "false"},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto_server did not start on {endpoint}")
                time.sleep(0.1)
        client = _client(endpoint)
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": CREDENTIALS["region"]})
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


def _client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=CREDENTIALS["access_key"],
        aws_secret_access_key=CREDENTIALS["secret_key"],
        region_name=CREDENTIALS["region"],
    )


def _s3_entry(endpoint: str) -> dict:
    return s3_storage_entry(bucket=BUCKET, endpoint_url=endpoint, **CREDENTIALS)


def _s3_storage(endpoint: str):
    from storages.backends.s3 import S3Storage

    entry = _s3_entry(endpoint)
    assert entry["BACKEND"] == "storages.backends.s3.S3Storage"
    return S3Storage(**entry["OPTIONS"])


def _round_trip_and_tamper(*, storage, overwrite, remove) -> None:
    data = b"%PDF-1.7\n% a stored version\n" + os.urandom(2048)
    first = store(storage=storage, name="documents/7/v1.pdf", data=data)
    again = store(storage=storage, name="documents/7/v1.pdf", data=b"%PDF-1.7\n% another\n")

    assert first.sha256 == hashlib.sha256(data).hexdigest() and first.size == len(data)
    assert again.name != first.name  # never stored over an existing version
    assert read_verified(storage=storage, name=first.name, sha256=first.sha256) == data

    overwrite(first.name, data.replace(b"a stored version", b"a stored versioN"))
    with pytest.raises(StoredFileCorrupted, match="corrupted"):
        read_verified(storage=storage, name=first.name, sha256=first.sha256)

    remove(first.name)
    with pytest.raises(StoredFileMissing, match="missing"):
        read_verified(storage=storage, name=first.name, sha256=first.sha256)


def test_files_on_disk_are_checked_when_read(tmp_path):
    storage = FileSystemStorage(location=tmp_path / "media")
    _round_trip_and_tamper(
        storage=storage,
        overwrite=lambda name, data: Path(storage.path(name)).write_bytes(data),
        remove=lambda name: Path(storage.path(name)).unlink(),
    )


def test_files_in_s3_are_checked_when_read(s3_endpoint):
    storage = _s3_storage(s3_endpoint)
    client = _client(s3_endpoint)
    _round_trip_and_tamper(
        storage=storage,
        overwrite=lambda name, data: client.put_object(Bucket=BUCKET, Key=name, Body=data),
        remove=lambda name: client.delete_object(Bucket=BUCKET, Key=name),
    )


def test_s3_entry_for_aws_keeps_virtual_hosted_addressing():
    entry = s3_storage_entry(bucket="b", region="ap-southeast-1")
    config = entry["OPTIONS"]["client_config"]
    assert entry["OPTIONS"]["endpoint_url"] is None
    assert config.s3 == {"addressing_style": "auto"}
    assert config.signature_version == "s3v4"
    assert entry["OPTIONS"]["file_overwrite"] is False and entry["OPTIONS"]["default_acl"] is None


@pytest.mark.django_db
def test_document_versions_go_to_s3_through_the_service_and_are_checked(s3_endpoint, settings, personas, pdf_bytes):
    from workflows import services
    from workflows.models import WorkflowTemplate
    from workflows.signing_handler import StoredFileCorrupted as VersionCorrupted
    from workflows.signing_handler import version_read

    settings.STORAGES = {**settings.STORAGES, "default": _s3_entry(s3_endpoint)}
    assert type(storages["default"]).__name__ == "S3Storage"
    template = WorkflowTemplate.objects.get(code="memo-2-tier")

    document = services.route_start(title="เก็บใน S3", pdf=pdf_bytes, template=template, actor=personas["requester"])

    version = document.versions.get()
    client = _client(s3_endpoint)
    stored = client.get_object(Bucket=BUCKET, Key=version.file.name)["Body"].read()
    # The routed version is the upload with the verification QR code stamped on it before any signature.
    assert stored.startswith(b"%PDF") and len(stored) > len(pdf_bytes)
    assert version.sha256 == hashlib.sha256(stored).hexdigest() and version.size == len(stored)
    assert version_read(version) == stored
    assert not Path(settings.MEDIA_ROOT, version.file.name).exists()  # not on disk

    client.put_object(Bucket=BUCKET, Key=version.file.name, Body=stored + b"\n% changed in the bucket\n")
    with pytest.raises(VersionCorrupted):
        version_read(version)

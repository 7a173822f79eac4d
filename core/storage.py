"""Where document files are kept, and the SHA-256 promise on every stored version.

Files are kept on disk (Django's `FileSystemStorage` under MEDIA_ROOT) unless an S3 bucket is named;
then django-storages' `S3Storage` keeps them in any S3-compatible service (AWS, MinIO, Ceph...).
`s3_storage_entry` builds the `STORAGES["default"]` entry for that case from plain values (the
settings module reads them from the environment and passes them in).

`store` saves bytes under a new name (never over an existing file) and returns the digest to keep
with the record; `read_verified` reads a file back and refuses it unless its SHA-256 still matches
(`StoredFileCorrupted`; `StoredFileMissing`, a subclass, when the file is gone). Both take the
storage as an argument and need no Django settings.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import Storage

__all__ = [
    "StoredFile",
    "StoredFileCorrupted",
    "StoredFileMissing",
    "read_verified",
    "s3_storage_entry",
    "store",
]


class StoredFileCorrupted(Exception):
    """A stored file no longer has the SHA-256 recorded when it was stored."""


class StoredFileMissing(StoredFileCorrupted):
    """A stored file is not in the storage any more."""


@dataclass(frozen=True)
class StoredFile:
    name: str
    sha256: str
    size: int


def store(*, storage: Storage, name: str, data: bytes) -> StoredFile:
    """Save `data` as `name` (or a free variant of it: nothing is overwritten); its name and digest."""
    saved = storage.save(name, ContentFile(data))
    return StoredFile(name=saved, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def read_verified(*, storage: Storage, name: str, sha256: str) -> bytes:
    """The bytes stored as `name`, after checking them against `sha256`."""
    try:
        with storage.open(name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError as exc:  # FileSystemStorage, and S3Storage on a 404
        raise StoredFileMissing(f"the stored file {name} is missing") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise StoredFileCorrupted(f"the stored file {name} is corrupted: SHA-256 {actual} where {sha256} was recorded")
    return data


def s3_storage_entry(
    *,
    bucket: str,
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    addressing_style: str | None = None,
    location: str = "",
) -> dict:
    """`STORAGES["default"]` for django-storages 1.14's `storages.backends.s3.S3Storage`.

    With `endpoint_url` (an S3-compatible service rather than AWS) path-style addressing is the
    default, since such services seldom resolve `<bucket>.<host>`; and checksums are sent only when
    the operation requires them, because the CRC32 trailers boto3 adds by default since 1.36 are
    refused by many S3-compatible servers. No ACL is set (the bucket's policy applies) and a name
    is never overwritten.
    """
    from botocore.config import Config

    client: dict = {
        "s3": {"addressing_style": addressing_style or ("path" if endpoint_url else "auto")},
        "signature_version": "s3v4",
    }
    if endpoint_url:
        client["request_checksum_calculation"] = "when_required"
        client["response_checksum_validation"] = "when_required"
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "region_name": region or None,
        "default_acl": None,
        "file_overwrite": False,
        "location": location,
        # S3Storage ignores its addressing_style and signature_version once a client_config is given
        "client_config": Config(**client),
    }
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}

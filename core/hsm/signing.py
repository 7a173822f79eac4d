"""Signing with token keys: raw signatures and pyHanko signers on a borrowed session."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Iterator

from asn1crypto import x509
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.util.ec import (
    encode_ecdsa_signature,
)
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.sign.signers import Signer

from . import pool
from .key_pairs import _find, _key_id, _key_kind
from .pool import _RSA_MECHANISMS, HSMError, _retrying, session

# --- signing ----------------------------------------------------------------------------------


def _digest(data: bytes, digest_algorithm: str) -> bytes:
    return hashlib.new(digest_algorithm, data).digest()


def sign_raw(*, label: str, data: bytes, digest_algorithm: str = "sha256") -> bytes:
    """Sign ``data`` with the token key: RSA PKCS#1 v1.5, or ECDSA as a DER-encoded signature."""
    digest_algorithm = digest_algorithm.lower()
    if digest_algorithm not in _RSA_MECHANISMS:
        raise ValueError(f"unsupported digest algorithm {digest_algorithm!r}")

    def _sign() -> bytes:
        with session(label=label) as s, pool._module_lock:
            private = _find(s, label=label, object_class=ObjectClass.PRIVATE_KEY)
            if not private[Attribute.SIGN]:
                raise HSMError(f"the key {label!r} is not a signing key")
            if private[Attribute.KEY_TYPE] == KeyType.RSA:
                return private.sign(data, mechanism=_RSA_MECHANISMS[digest_algorithm])
            # SoftHSM has no hash-then-ECDSA mechanisms; hashing is not a key operation.
            raw = private.sign(_digest(data, digest_algorithm), mechanism=Mechanism.ECDSA)
            return encode_ecdsa_signature(raw)

    return _retrying(_sign)


def signature_algorithm_for(label: str, digest_algorithm: str = "sha256") -> str:
    """The asn1crypto SignedDigestAlgorithm name for signatures made by ``sign_raw``."""
    return f"{digest_algorithm.lower()}_{_key_kind(label)}"


class _PooledPKCS11Signer(PKCS11Signer):
    """pyHanko's PKCS#11 signer, with every module call under this process's module lock."""

    def _load_objects(self):
        with pool._module_lock:
            super()._load_objects()

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        if dry_run:
            return await super().async_sign_raw(data, digest_algorithm, dry_run=True)
        await self.ensure_objects_loaded()
        spec = self._select_pkcs11_signing_params(digest_algorithm, sign_kwargs=self.sign_kwargs(data))
        payload = spec.pre_sign_transform(data) if spec.pre_sign_transform else data
        key_handle = self._key_handle

        def _perform() -> bytes:
            with pool._module_lock:
                signature = key_handle.sign(payload, **spec.sign_kwargs)
            if spec.post_sign_transform is not None:
                signature = spec.post_sign_transform(signature)
            return signature

        return await asyncio.get_running_loop().run_in_executor(None, _perform)


def pyhanko_signer(*, label: str, signing_cert: x509.Certificate, other_certs: list[x509.Certificate]) -> Signer:
    """A pyHanko Signer on the session this thread holds through ``with session():``.

    The signer is valid only while that block is open. ``signer()`` does both steps.
    """
    stack = getattr(pool._borrowed, "stack", None)
    if not stack:
        raise HSMError("pyhanko_signer must be used inside 'with session():'")
    kind = _key_kind(label)
    return _PooledPKCS11Signer(
        pkcs11_session=stack[-1],
        key_label=label,
        key_id=_key_id(label),
        signing_cert=signing_cert,
        ca_chain=list(other_certs),
        other_certs_to_pull=(),
        # SoftHSM lacks CKM_ECDSA_SHA256: pyHanko hashes and the token signs the digest.
        use_raw_mechanism=kind == "ecdsa",
    )


@contextlib.contextmanager
def signer(*, label: str, signing_cert: x509.Certificate, other_certs: list[x509.Certificate]) -> Iterator[Signer]:
    """Borrow a session and yield a pyHanko Signer for ``label`` that uses it.

    Raises KeyNotFound before borrowing when the key is missing (checked once per label and
    process; see ``_key_kinds``).
    """
    _key_kind(label)
    with session(label=label):
        yield pyhanko_signer(label=label, signing_cert=signing_cert, other_certs=other_certs)

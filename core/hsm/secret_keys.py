"""Secret keys: the signer's activation MAC and factor-sealing keys, random bytes, labels."""

from __future__ import annotations

from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11_errors

from . import pool
from .key_pairs import _find, _key_id, found_forget
from .pool import HSMConfig, HSMError, _retrying, session

# --- secret keys: the signer's activation MAC and factor-sealing keys -------------------------

_SECRET_KINDS = {"aes": (KeyType.AES, 256), "hmac": (KeyType.GENERIC_SECRET, 256)}
_GCM_NONCE_BYTES = 12


def secret_key_ensure(*, label: str, kind: str) -> bool:
    """Generate the secret key ``label`` in its token if missing (sensitive, never extractable).

    ``aes`` keys only encrypt and decrypt (AES-GCM), ``hmac`` keys only sign and verify
    (HMAC-SHA256). True if it was created. Idempotent; concurrent creators are serialised by the
    SoftHSM init lock only in ``token_ensure``, so call this from one set-up command.
    """
    key_type, bits = _SECRET_KINDS[kind]

    def _ensure() -> bool:
        with session(label=label) as s, pool._module_lock:
            if list(s.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label})):
                return False
            template = {
                Attribute.TOKEN: True,
                Attribute.PRIVATE: True,
                Attribute.SENSITIVE: True,
                Attribute.EXTRACTABLE: False,
                Attribute.WRAP: False,
                Attribute.UNWRAP: False,
                Attribute.DERIVE: False,
                Attribute.ENCRYPT: kind == "aes",
                Attribute.DECRYPT: kind == "aes",
                Attribute.SIGN: kind == "hmac",
                Attribute.VERIFY: kind == "hmac",
                Attribute.ID: _key_id(label),
            }
            s.generate_key(key_type, bits, label=label, store=True, template=template)
            return True

    return _retrying(_ensure)


def _secret(s, label: str):
    return _find(s, label=label, object_class=ObjectClass.SECRET_KEY)


def secret_encrypt(*, label: str, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM inside the token: nonce || ciphertext || tag, bound to ``aad``."""
    from pkcs11.mechanisms import GCMParams

    with session(label=label) as s, pool._module_lock:
        nonce = s.generate_random(_GCM_NONCE_BYTES * 8)
        params = GCMParams(nonce, aad)
        sealed = _secret(s, label).encrypt(plaintext, mechanism=Mechanism.AES_GCM, mechanism_param=params)
        return nonce + sealed


def secret_decrypt(*, label: str, sealed: bytes, aad: bytes, config: HSMConfig | None = None) -> bytes:
    """Open what ``secret_encrypt`` sealed; HSMError when it was altered or sealed for other ``aad``."""
    from pkcs11.mechanisms import GCMParams

    if len(sealed) <= _GCM_NONCE_BYTES + 16:
        raise HSMError("sealed data too short")
    nonce, body = sealed[:_GCM_NONCE_BYTES], sealed[_GCM_NONCE_BYTES:]
    with session(label=label, config=config) as s, pool._module_lock:
        key = _secret(s, label)
        try:
            return key.decrypt(body, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad))
        except (p11_errors.EncryptedDataInvalid, p11_errors.EncryptedDataLenRange, p11_errors.FunctionFailed) as exc:
            raise HSMError("sealed data does not open (altered, or sealed for someone else)") from exc


def hmac_sign(*, label: str, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data`` with the token's secret key ``label``."""
    with session(label=label) as s, pool._module_lock:
        return _secret(s, label).sign(data, mechanism=Mechanism.SHA256_HMAC)


def hmac_verify(*, label: str, data: bytes, mac: bytes) -> bool:
    with session(label=label) as s, pool._module_lock:
        try:
            return bool(_secret(s, label).verify(data, mac, mechanism=Mechanism.SHA256_HMAC))
        except (p11_errors.SignatureInvalid, p11_errors.SignatureLenRange):
            return False


def random_bytes(*, count: int, realm: str | None = None) -> bytes:
    """Random bytes from the token's generator."""
    with session(realm=realm) as s, pool._module_lock:
        return s.generate_random(count * 8)


def labels(*, realm: str | None = None, config: HSMConfig | None = None) -> list[str]:
    """Labels of the private and secret keys in a token (by realm, or an explicit configuration)."""
    found: set[str] = set()
    with session(realm=realm, config=config) as s, pool._module_lock:
        for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY):
            for obj in s.get_objects({Attribute.CLASS: object_class}):
                found.add(obj[Attribute.LABEL])
    return sorted(found)


def secret_key_delete(*, label: str, config: HSMConfig | None = None) -> None:
    """Destroy a secret key (in the token of ``config`` when given)."""
    with session(label=label, config=config) as s, pool._module_lock:
        _secret(s, label).destroy()
    found_forget(label)

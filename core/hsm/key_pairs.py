"""Key pairs in the token: generated or imported, never extracted; public keys and attributes."""

from __future__ import annotations

import hashlib

from asn1crypto import core, keys
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11_errors
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_named_curve_parameters,
)
from pkcs11.util.rsa import decode_rsa_private_key, encode_rsa_public_key

from . import pool
from .pool import _RSA_BITS, KEY_ALGORITHMS, HSMConfig, HSMError, KeyNotFound, _key_kinds, _retrying, session

# --- keys -------------------------------------------------------------------------------------


def _key_id(label: str) -> bytes:
    # Stable per label, so certificates stored later can carry the same CKA_ID.
    return hashlib.sha256(label.encode("utf-8")).digest()[:16]


def _find(s, *, label: str, object_class):
    """The key ``label`` of ``object_class`` as an object of session ``s`` (remembered per session)."""
    cache_key = (id(s), label, int(object_class))
    hit = pool.found_keys.get(cache_key)
    if hit is not None and hit[0] is s:
        return hit[1]
    try:
        found = s.get_key(object_class=object_class, label=label)
    except p11_errors.NoSuchKey as exc:
        raise KeyNotFound(f"no {object_class.name.lower()} labelled {label!r} in the token") from exc
    except p11_errors.MultipleObjectsReturned as exc:
        raise HSMError(f"several keys labelled {label!r} in the token") from exc
    if len(pool.found_keys) >= pool.FOUND_KEYS_MAX:
        pool.found_keys.clear()
    pool.found_keys[cache_key] = (s, found)
    return found


def found_forget(label: str) -> None:
    """This process deletes (or replaces) the key ``label``: its remembered objects go."""
    for cache_key in [k for k in pool.found_keys if k[1] == label]:
        pool.found_keys.pop(cache_key, None)


def _public_key_info(public_key) -> keys.PublicKeyInfo:
    key_type = public_key[Attribute.KEY_TYPE]
    if key_type == KeyType.RSA:
        return keys.PublicKeyInfo(
            {
                # RFC 3279 2.3.1: rsaEncryption parameters are an explicit NULL.
                "algorithm": {"algorithm": "rsa", "parameters": core.Null()},
                "public_key": keys.RSAPublicKey.load(encode_rsa_public_key(public_key)),
            }
        )
    if key_type == KeyType.EC:
        return keys.PublicKeyInfo.load(encode_ec_public_key(public_key))
    raise HSMError(f"unsupported key type {key_type!r}")


KEY_USAGES = ("sign", "encrypt")


def _private_template(label: str, usage: str = "sign") -> dict:
    # A key does one thing: a signing key never decrypts, an encryption key never signs (the token refuses).
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: usage == "sign",
        Attribute.DECRYPT: usage == "encrypt",
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
        Attribute.LABEL: label,
        Attribute.ID: _key_id(label),
    }


def key_generate(*, label: str, algorithm: str = "rsa2048", usage: str = "sign") -> keys.PublicKeyInfo:
    """Generate a key pair inside the token and return its public half.

    ``usage`` "sign" (the default) makes a signing key; "encrypt" an RSA key that only decrypts (the
    key transport of an encrypted PDF's file key, ``decrypt_raw``) and never signs.
    """
    if algorithm not in KEY_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {KEY_ALGORITHMS}, not {algorithm!r}")
    if usage not in KEY_USAGES:
        raise ValueError(f"usage must be one of {KEY_USAGES}, not {usage!r}")
    if usage == "encrypt" and algorithm not in _RSA_BITS:
        raise ValueError("encryption keys are RSA (key transport)")
    if key_exists(label=label):
        raise HSMError(f"a key labelled {label!r} already exists")
    _key_forget(label)
    signing = usage == "sign"
    capabilities = (
        MechanismFlag.SIGN | MechanismFlag.VERIFY if signing else MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
    )
    public_template = {
        Attribute.TOKEN: True,
        Attribute.VERIFY: signing,
        Attribute.ENCRYPT: not signing,
    }
    with session(label=label) as s, pool._module_lock:
        if algorithm in _RSA_BITS:
            public, _ = s.generate_keypair(
                KeyType.RSA,
                _RSA_BITS[algorithm],
                id=_key_id(label),
                label=label,
                store=True,
                capabilities=capabilities,
                public_template=public_template,
                private_template=_private_template(label, usage),
            )
        else:
            parameters = s.create_domain_parameters(
                KeyType.EC,
                {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            public, _ = parameters.generate_keypair(
                id=_key_id(label),
                label=label,
                store=True,
                capabilities=capabilities,
                public_template=public_template,
                private_template=_private_template(label),
            )
        return _public_key_info(public)


_DECRYPT_MECHANISMS = ("rsa_pkcs", "rsa_oaep_sha256", "rsa_oaep_sha1")


def decrypt_raw(*, label: str, data: bytes, mechanism: str = "rsa_oaep_sha256") -> bytes:
    """Decrypt ``data`` (an RSA key-transport block) with the token's encryption key ``label``.

    Only keys generated with ``usage="encrypt"`` have CKA_DECRYPT; the token refuses signing keys.
    """
    from pkcs11 import MGF

    if mechanism not in _DECRYPT_MECHANISMS:
        raise ValueError(f"mechanism must be one of {_DECRYPT_MECHANISMS}, not {mechanism!r}")

    def _decrypt() -> bytes:
        with session(label=label) as s, pool._module_lock:
            private = _find(s, label=label, object_class=ObjectClass.PRIVATE_KEY)
            if private[Attribute.KEY_TYPE] != KeyType.RSA or not private[Attribute.DECRYPT]:
                raise HSMError(f"the key {label!r} is not an encryption key")
            if not hasattr(private, "decrypt"):  # python-pkcs11 gives a key the methods of its capabilities
                raise HSMError(f"the key {label!r} cannot decrypt")
            if mechanism == "rsa_pkcs":
                return private.decrypt(data, mechanism=Mechanism.RSA_PKCS)
            hashing = (Mechanism.SHA256, MGF.SHA256) if mechanism == "rsa_oaep_sha256" else (Mechanism.SHA_1, MGF.SHA1)
            return private.decrypt(
                data, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=(hashing[0], hashing[1], None)
            )

    try:
        return _retrying(_decrypt)
    except p11_errors.PKCS11Error as exc:
        if isinstance(exc, HSMError):
            raise
        raise HSMError(f"the token could not decrypt with {label!r}: {type(exc).__name__}") from exc


def key_import(*, label: str, private_key: keys.PrivateKeyInfo) -> keys.PublicKeyInfo:
    """Store an externally issued key (PKCS#12 import) as sensitive and non-extractable."""
    from cryptography.hazmat.primitives import serialization

    if key_exists(label=label):
        raise HSMError(f"a key labelled {label!r} already exists")
    _key_forget(label)
    algorithm = private_key.algorithm
    if algorithm == "rsa":
        private_attrs = decode_rsa_private_key(private_key["private_key"].parsed.dump())
    elif algorithm == "ec":
        ec_key = private_key["private_key"].parsed
        # PKCS#8 keeps the curve in the outer algorithm, not inside ECPrivateKey.
        private_attrs = {
            Attribute.CLASS: ObjectClass.PRIVATE_KEY,
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: private_key["private_key_algorithm"]["parameters"].dump(),
            Attribute.VALUE: ec_key["private_key"].contents,
        }
    else:
        raise HSMError(f"cannot import a {algorithm} key")
    private_attrs.update(_private_template(label))
    public_der = (
        serialization.load_der_private_key(private_key.dump(), password=None)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    public_info = keys.PublicKeyInfo.load(public_der)
    if algorithm == "rsa":
        rsa_public = public_info["public_key"].parsed
        public_attrs = {
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.MODULUS: rsa_public["modulus"].native.to_bytes(
                (rsa_public["modulus"].native.bit_length() + 7) // 8, "big"
            ),
            Attribute.PUBLIC_EXPONENT: rsa_public["public_exponent"].native.to_bytes(
                (rsa_public["public_exponent"].native.bit_length() + 7) // 8, "big"
            ),
        }
    else:
        public_attrs = {
            Attribute.KEY_TYPE: KeyType.EC,
            Attribute.EC_PARAMS: public_info["algorithm"]["parameters"].dump(),
            Attribute.EC_POINT: core.OctetString(bytes(public_info["public_key"])).dump(),
        }
    public_attrs.update(
        {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.TOKEN: True,
            Attribute.VERIFY: True,
            Attribute.LABEL: label,
            Attribute.ID: _key_id(label),
        }
    )
    with session(label=label) as s, pool._module_lock:
        s.create_object(private_attrs)
        s.create_object(public_attrs)
    return public_info


def key_exists(*, label: str) -> bool:
    def _check() -> bool:
        with session(label=label) as s, pool._module_lock:
            found = list(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}))
            return bool(found)

    return _retrying(_check)


def key_public(*, label: str) -> keys.PublicKeyInfo:
    def _read() -> keys.PublicKeyInfo:
        with session(label=label) as s, pool._module_lock:
            return _public_key_info(_find(s, label=label, object_class=ObjectClass.PUBLIC_KEY))

    return _retrying(_read)


def key_delete(*, label: str, config: HSMConfig | None = None) -> None:
    """Destroy both halves of the key pair (in the token of ``config`` when given, e.g. an old
    single token during ``hsm_split``); a missing key is KeyNotFound."""
    _key_forget(label)
    with session(label=label, config=config) as s, pool._module_lock:
        found = list(s.get_objects({Attribute.LABEL: label}))
        found = [o for o in found if o[Attribute.CLASS] in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)]
        if not found:
            raise KeyNotFound(f"no key labelled {label!r} in the token")
        for obj in found:
            obj.destroy()
    _key_forget(label)


def key_attributes(*, label: str) -> dict:
    """The protection attributes of the private key, and whether its secret value can be read."""
    with session(label=label) as s, pool._module_lock:
        private = _find(s, label=label, object_class=ObjectClass.PRIVATE_KEY)
        report = {
            "key_type": "rsa" if private[Attribute.KEY_TYPE] == KeyType.RSA else "ec",
            "token": private[Attribute.TOKEN],
            "sensitive": private[Attribute.SENSITIVE],
            "extractable": private[Attribute.EXTRACTABLE],
            "always_sensitive": private[Attribute.ALWAYS_SENSITIVE],
            "never_extractable": private[Attribute.NEVER_EXTRACTABLE],
            "sign": private[Attribute.SIGN],
            "decrypt": private[Attribute.DECRYPT],
            "id": private[Attribute.ID],
        }
        secret = Attribute.PRIVATE_EXPONENT if report["key_type"] == "rsa" else Attribute.VALUE
        try:
            private[secret]
            report["secret_readable"] = True
        except (p11_errors.AttributeSensitive, p11_errors.AttributeTypeInvalid):
            report["secret_readable"] = False
        return report


def _key_kind(label: str) -> str:
    kind = _key_kinds.get(label)
    if kind is not None:
        return kind

    def _read() -> str:
        with session(label=label) as s, pool._module_lock:
            private = _find(s, label=label, object_class=ObjectClass.PRIVATE_KEY)
            return "rsa" if private[Attribute.KEY_TYPE] == KeyType.RSA else "ecdsa"

    kind = _key_kinds[label] = _retrying(_read)
    return kind


def _key_forget(label: str) -> None:
    _key_kinds.pop(label, None)
    found_forget(label)

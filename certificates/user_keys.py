"""Users' keys live in the users' token, which only the signer logs in to: ask it (core.signer)."""

from __future__ import annotations

from asn1crypto import keys

from core import signer


def key_generate(*, label: str, algorithm: str, usage: str = "sign") -> keys.PublicKeyInfo:
    """A new key pair in the users' token: a signing key, or (``usage="encrypt"``) an RSA key that only
    decrypts the file keys of copies encrypted to the user."""
    return keys.PublicKeyInfo.load(
        signer.b64decode(signer.call("key_generate", label=label, algorithm=algorithm, usage=usage)["public_key"])
    )


def key_public(*, label: str) -> keys.PublicKeyInfo:
    return keys.PublicKeyInfo.load(signer.b64decode(signer.call("key_public", label=label)["public_key"]))


def key_import(*, label: str, private_key: keys.PrivateKeyInfo) -> keys.PublicKeyInfo:
    answer = signer.call("key_import", label=label, private_key=signer.b64encode(private_key.dump()))
    return keys.PublicKeyInfo.load(signer.b64decode(answer["public_key"]))


def csr_sign(label: str, info: bytes) -> bytes:
    """The proof of possession of a CSR: the signer signs only that key's certification request info."""
    return signer.b64decode(signer.call("csr_sign", label=label, info=signer.b64encode(info))["signature"])

"""Opening a copy encrypted to a user's certificate (signing.encryption) with their key in the HSM.

The copy's file key is wrapped (CMS key transport, RSA) for each recipient's encryption certificate.
Only the signer can unwrap it, and only with activation data issued after the recipient's fresh code
for exactly that wrapped key (signing/activation.py, ``purpose`` "decrypt"): whoever reads the
database, steals a session or an API token still cannot open a copy without the recipient's factor.

``key_transport_block`` finds the recipient's wrapped key in the copy's encryption dictionary (which
is never itself encrypted), so the activation can name it before anything is decrypted;
``SignerEnvelopeKeyDecrypter`` is pyHanko's ``EnvelopeKeyDecrypter`` asking the signer to unwrap it.
"""

from __future__ import annotations

from io import BytesIO

from asn1crypto import cms, x509
from pyhanko.pdf_utils.crypt.pubkey import EnvelopeKeyDecrypter, InappropriateCredentialError, PubKeySecurityHandler
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from core import signer as signer_client

__all__ = ["SignerEnvelopeKeyDecrypter", "key_transport_block", "mechanism_of"]


def _recipients(wrapper: bytes) -> list[cms.ContentInfo]:
    """The recipients' CMS envelopes of a public-key encrypted PDF (read before anything is decrypted)."""
    try:
        reader = PdfFileReader(BytesIO(wrapper), strict=False)
        handler = reader.security_handler
    except (PdfError, ValueError, KeyError, TypeError, NotImplementedError):
        return []
    if not isinstance(handler, PubKeySecurityHandler):
        return []
    found: list[cms.ContentInfo] = []
    for crypt_filter in handler.crypt_filter_config.filters():
        found += [r for r in getattr(crypt_filter, "recipients", None) or [] if r not in found]
    return found


def key_transport_block(*, wrapper: bytes, cert: x509.Certificate) -> tuple[bytes, cms.KeyEncryptionAlgorithm] | None:
    """The key wrapped for `cert` in a public-key encrypted PDF and how it was wrapped; None if the
    PDF is not encrypted to that certificate (or not public-key encrypted at all)."""
    for content in _recipients(wrapper):
        try:
            if content["content_type"].native != "enveloped_data":
                continue
            for info in content["content"]["recipient_infos"]:
                if info.name != "ktri":
                    continue
                rid = info.chosen["rid"].chosen
                if (
                    isinstance(rid, cms.IssuerAndSerialNumber)
                    and rid["issuer"] == cert.issuer
                    and rid["serial_number"].native == cert.serial_number
                ):
                    return info.chosen["encrypted_key"].native, info.chosen["key_encryption_algorithm"]
        except (ValueError, TypeError, KeyError):
            continue
    return None


def mechanism_of(algorithm: cms.KeyEncryptionAlgorithm) -> str:
    """The signer's name for a CMS key-transport algorithm (RSAES-OAEP with SHA-256/SHA-1, or PKCS#1 v1.5)."""
    name = algorithm["algorithm"].native
    if name == "rsaes_pkcs1v15" or name == "rsa":
        return "rsa_pkcs"
    if name == "rsaes_oaep":
        hashing = algorithm["parameters"]["hash_algorithm"]["algorithm"].native
        mgf_hash = algorithm["parameters"]["mask_gen_algorithm"]["parameters"]["algorithm"].native
        if hashing == mgf_hash and hashing in ("sha256", "sha1"):
            return f"rsa_oaep_{hashing}"
    raise InappropriateCredentialError(f"unsupported key transport {name!r}")


class SignerEnvelopeKeyDecrypter(EnvelopeKeyDecrypter):
    """Unwraps the file key in the signer, with the recipient's activation data for ``subject``."""

    def __init__(self, *, cert: x509.Certificate, key_label: str, activation: str, subject: int):
        self._cert = cert
        self.key_label = key_label
        self.activation = activation
        self.subject = subject

    @property
    def cert(self) -> x509.Certificate:
        return self._cert

    def decrypt(self, encrypted_key: bytes, algo_params: cms.KeyEncryptionAlgorithm) -> bytes:
        answer = signer_client.call(
            "decrypt",
            sad=self.activation,
            subject=self.subject,
            key_label=self.key_label,
            encrypted_key=signer_client.b64encode(encrypted_key),
            mechanism=mechanism_of(algo_params),
        )
        return signer_client.b64decode(answer["plaintext"])

    def decrypt_with_exchange(self, *args, **kwargs) -> bytes:
        raise InappropriateCredentialError("dsign's encryption keys are RSA key transport only")

"""Encrypted copies of signed documents: for a password (AES-256) or for chosen recipients' certificates.

Design: an encrypted *wrapper*, not an encrypted rewrite. PDF encryption covers every string and stream
of the file, so encrypting a document that is already signed changes the very bytes its signatures
hash: each signature breaks. pyHanko can add encryption in an incremental update only to a document
that was encrypted before its first signature, and dsign's documents are signed by several people over
days before anyone asks for an encrypted copy. So the copy is a new PDF whose only content is a cover
page and the signed document as an embedded file (an attachment, `AFRelationship /Source`), and the
whole wrapper is encrypted (AES-256: standard security handler revision 6 for a password, the
public-key security handler with `adbe.pkcs7.s5` and AES-256 for certificates). The signed bytes inside
are exactly the bytes dsign stored, so whoever can decrypt gets every signature intact and valid. The
wrapper's `/Collection` dictionary (view hidden, initial document = the attachment) makes Acrobat and
other collection-aware viewers open the signed document directly; other viewers show the cover page,
which says how to open the attachment.

Trade-offs: the wrapper itself is not signed (tampering with the ciphertext is detected only by the
signatures of the document inside, and by the PDF 2.0 MAC pyHanko adds where the viewer checks it);
viewers without attachment support show only the cover page; and a verifier given the wrapper must
look inside it (`extract_signed_document`).
"""

from __future__ import annotations

from io import BytesIO

from asn1crypto import x509
from pyhanko.pdf_utils import crypt, generic
from pyhanko.pdf_utils.crypt.pubkey import RecipientEncryptionPolicy
from pyhanko.pdf_utils.embed import EmbeddedFileParams, wrap_encrypted_payload
from pyhanko.pdf_utils.misc import PdfWriteError
from pyhanko.pdf_utils.reader import PdfFileReader

__all__ = [
    "EncryptionInputError",
    "document_encrypted_copy",
    "encrypt_for_recipients",
    "encrypt_with_password",
    "extract_signed_document",
]

SIGNED_ATTACHMENT_NAME = "signed-document.pdf"
ATTACHMENT_DESCRIPTION = "Signed document (digital signatures inside are intact)"


class EncryptionInputError(ValueError):
    """The request cannot be encrypted as asked (no PDF, no password, unusable certificate)."""


def encrypt_with_password(*, pdf: bytes, user_password: str, owner_password: str | None = None) -> bytes:
    """An AES-256 (R6) encrypted wrapper around `pdf` that opens with `user_password`."""
    _check_pdf(pdf)
    if not user_password:
        raise EncryptionInputError("A password is required.")
    handler = crypt.StandardSecurityHandler.build_from_pw(
        owner_password or user_password, desired_user_pass=user_password
    )
    return _wrap(pdf=pdf, security_handler=handler)


def encrypt_for_recipients(*, pdf: bytes, recipients: list[x509.Certificate]) -> bytes:
    """An AES-256 public-key encrypted wrapper around `pdf`, readable with any recipient's private key."""
    _check_pdf(pdf)
    if not recipients:
        raise EncryptionInputError("At least one recipient certificate is required.")
    for cert in recipients:
        _check_recipient(cert)
    try:
        handler = crypt.PubKeySecurityHandler.build_from_certs(
            list(recipients),
            keylen_bytes=32,
            version=crypt.SecurityHandlerVersion.AES256,
            # checked above: pyHanko asks keyEncipherment of EC keys too, where RFC 5480 means keyAgreement.
            # The file key is wrapped with RSA PKCS#1 v1.5, what PDF readers (Acrobat) open and SoftHSM can
            # unwrap (its OAEP is SHA-1 only); no padding oracle: dsign's signer unwraps one block per fresh
            # code of the recipient (signing/activation.py, decrypt).
            policy=RecipientEncryptionPolicy(ignore_key_usage=True),
        )
    except (PdfWriteError, ValueError, NotImplementedError, TypeError) as exc:
        raise EncryptionInputError(f"Cannot encrypt to these certificates: {exc}") from exc
    return _wrap(pdf=pdf, security_handler=handler)


def document_encrypted_copy(
    *, pdf: bytes, password: str | None = None, recipients: list[x509.Certificate] | None = None
) -> bytes:
    """The download service: exactly one of `password` or `recipients`."""
    if (password is None) == (recipients is None):
        raise EncryptionInputError("Give either a password or recipient certificates.")
    if password is not None:
        return encrypt_with_password(pdf=pdf, user_password=password)
    return encrypt_for_recipients(pdf=pdf, recipients=recipients)


def extract_signed_document(*, wrapper: bytes, password: str | None = None, decrypter=None) -> bytes:
    """The signed document inside a wrapper made here, decrypted with a password or a pyHanko decrypter
    (e.g. `SimpleEnvelopeKeyDecrypter`). Raises EncryptionInputError when it cannot be opened."""
    reader = PdfFileReader(BytesIO(wrapper))
    if reader.encrypted:
        if decrypter is not None:
            result = reader.decrypt_pubkey(decrypter)
        else:
            result = reader.decrypt((password or "").encode("utf-8"))
        if result.status == crypt.AuthStatus.FAILED:
            raise EncryptionInputError("Wrong password or key.")
    try:
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
    except KeyError as exc:
        raise EncryptionInputError("This file is not an encrypted dsign copy.") from exc
    for index in range(0, len(names) - 1, 2):
        if str(names[index]) == SIGNED_ATTACHMENT_NAME:
            return names[index + 1]["/EF"]["/F"].data
    raise EncryptionInputError("This file is not an encrypted dsign copy.")


def _check_recipient(cert: x509.Certificate) -> None:
    """A recipient key must be meant for encryption: a signing-only certificate is refused."""
    algorithm = cert.public_key.algorithm
    needed = {"rsa": "key_encipherment", "ec": "key_agreement"}.get(algorithm)
    who = cert.subject.human_friendly
    if needed is None:
        raise EncryptionInputError(f"Cannot encrypt to a {algorithm} key ({who}).")
    usage = cert.key_usage_value
    if usage is not None and needed not in usage.native:
        raise EncryptionInputError(f"The certificate of {who} is not for encryption (no {needed} key usage).")


def _check_pdf(pdf: bytes) -> None:
    if b"%PDF-" not in pdf[:1024]:
        raise EncryptionInputError("Only PDF documents can be encrypted.")


def _wrap(*, pdf: bytes, security_handler) -> bytes:
    writer = wrap_encrypted_payload(
        pdf,
        security_handler=security_handler,
        file_spec_string=SIGNED_ATTACHMENT_NAME,
        file_name=SIGNED_ATTACHMENT_NAME,
        description=ATTACHMENT_DESCRIPTION,
        params=EmbeddedFileParams(embed_size=True, embed_checksum=True),
    )
    # the attachment is the source of the wrapper's content: an associated file, not a loose attachment
    spec = writer.root["/Names"]["/EmbeddedFiles"]["/Names"][1].get_object()
    spec["/AFRelationship"] = generic.NameObject("/Source")
    writer.root["/AF"] = generic.ArrayObject([writer.root["/Names"]["/EmbeddedFiles"]["/Names"].raw_get(1)])
    out = BytesIO()
    writer.write(out)
    return out.getvalue()

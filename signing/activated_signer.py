"""A pyHanko ``Signer`` whose key is in the signer process and works only with activation data.

pyHanko prepares the incremental update (its ByteRange written, the signature gap still empty)
into the output stream that ``pades.sign_pdf`` hands over through ``bind_prepared_output``, builds
the CMS signed attributes, and asks ``async_sign_raw`` for the raw signature. That request carries
the signed attributes, the prepared document and the job's SAD to the signer, which recomputes the
document digest itself and checks it against the version the user confirmed (signing/activation.py).
"""

from __future__ import annotations

import asyncio
import io

from asn1crypto import x509
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from core import signer as signer_client


class ActivatedSigner(Signer):
    def __init__(
        self,
        *,
        activation: str,
        subject_id: int,
        key_label: str,
        signing_cert: x509.Certificate,
        other_certs: list[x509.Certificate],
    ):
        super().__init__(
            signing_cert=signing_cert,
            cert_registry=SimpleCertificateStore.from_certs(other_certs),
        )
        self.activation = activation
        self.subject_id = subject_id
        self.key_label = key_label
        self._output: io.BytesIO | None = None

    def bind_prepared_output(self, output: io.BytesIO) -> None:
        self._output = output

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        if dry_run:
            # Only the size matters: an RSA signature has the modulus' length, ECDSA at most 72 bytes.
            public = self.signing_cert.public_key
            return bytes(public.byte_size if public.algorithm == "rsa" else 72)
        if self._output is None:
            raise signer_client.SignerError("bad_request", "the prepared document was not bound to the signer")
        prepared = self._output.getvalue()

        def _ask() -> bytes:
            answer = signer_client.call(
                "sign",
                sad=self.activation,
                subject=self.subject_id,
                key_label=self.key_label,
                signed_attrs=signer_client.b64encode(data),
                prepared=signer_client.b64encode(prepared),
                digest_algorithm=digest_algorithm,
            )
            return signer_client.b64decode(answer["signature"])

        return await asyncio.get_running_loop().run_in_executor(None, _ask)

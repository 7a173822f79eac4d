"""A software FIDO2 authenticator for tests: a real P-256 key (cryptography), real COSE keys and CBOR
attestation objects (py_webauthn's COSE identifiers, cbor2), real ES256 signatures over authenticatorData
and the clientDataJSON hash — what a browser and a security key send, so py_webauthn verifies it for real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers.cose import COSECRV, COSEKTY, COSEAlgorithmIdentifier, COSEKey

UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    def __init__(self, *, rp_id: str, origin: str, sign_count: int = 0, user_verification: bool = True):
        self.rp_id = rp_id
        self.origin = origin
        self.sign_count = sign_count
        self.user_verification = user_verification
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.user_handle = b""

    def cose_public_key(self, key=None) -> bytes:
        numbers = (key or self.key).public_key().public_numbers()
        return cbor2.dumps(
            {
                int(COSEKey.KTY): int(COSEKTY.EC2),
                int(COSEKey.ALG): int(COSEAlgorithmIdentifier.ECDSA_SHA_256),
                int(COSEKey.CRV): int(COSECRV.P256),
                int(COSEKey.X): numbers.x.to_bytes(32, "big"),
                int(COSEKey.Y): numbers.y.to_bytes(32, "big"),
            }
        )

    def _flags(self, *extra: int) -> int:
        flags = UP | (UV if self.user_verification else 0)
        for flag in extra:
            flags |= flag
        return flags

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        ).encode()

    def create(self, options: dict, *, origin: str | None = None) -> dict:
        """navigator.credentials.create({publicKey}) with the server's JSON options."""
        public_key = options["publicKey"]
        self.user_handle = unb64(public_key["user"]["id"])
        client_data = self._client_data("webauthn.create", public_key["challenge"], origin)
        attested = bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id + self.cose_public_key()
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags(AT)])
            + struct.pack(">I", self.sign_count)
            + attested
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        }

    def get(self, options: dict, *, origin: str | None = None, key=None, credential_id: bytes | None = None) -> dict:
        """navigator.credentials.get({publicKey}); each use counts up (when the counter is used)."""
        public_key = options["publicKey"]
        if self.sign_count:
            self.sign_count += 1
        return self.sign(public_key["challenge"], origin=origin, key=key, credential_id=credential_id)

    def sign(self, challenge: str, *, origin: str | None = None, key=None, credential_id: bytes | None = None) -> dict:
        client_data = self._client_data("webauthn.get", challenge, origin)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest() + bytes([self._flags()]) + struct.pack(">I", self.sign_count)
        )
        signature = (key or self.key).sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        credential = credential_id or self.credential_id
        return {
            "id": b64(credential),
            "rawId": b64(credential),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": b64(self.user_handle),
            },
            "clientExtensionResults": {},
        }

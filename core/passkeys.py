"""WebAuthn challenges that carry what they are for, so the signer can check an assertion's purpose.

A challenge is ``nonce (16 bytes) | issued at (8 bytes, big-endian seconds) | SHA-256(prefix | user |
binding | nonce | issued)``. The authenticator signs over the challenge (inside clientDataJSON), so an
assertion made for one binding (the documents and versions of an approval, or "purpose:mfa_change")
cannot be presented for another: whoever checks it recomputes the digest from the binding *they* are
about to act on. Nothing here is secret; freshness and single use are the checker's (the web tier's
challenge row, and the signer's own ledger of spent nonces).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import struct
import time

__all__ = ["ChallengeMismatch", "challenge_check", "challenge_make", "items_binding", "purpose_binding"]

PREFIX = b"dsign-passkey-v1|"
NONCE_BYTES = 16
LENGTH = NONCE_BYTES + 8 + 32
# A challenge dated a little ahead of the checker's clock (another process) is still accepted.
CLOCK_SKEW_SECONDS = 30


class ChallengeMismatch(Exception):
    """Not a challenge for this user and binding, or too old; ``code`` says which."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def items_binding(items: list[dict]) -> str:
    """The binding of a signature activation: each document (subject), its version's SHA-256 and size."""
    rows = sorted(
        ({"subject": int(i["subject"]), "sha256": str(i["sha256"]).lower(), "size": int(i["size"])} for i in items),
        key=lambda row: (row["subject"], row["sha256"]),
    )
    return "sign:" + json.dumps(rows, sort_keys=True, separators=(",", ":"))


def purpose_binding(purpose: str) -> str:
    return f"purpose:{purpose}"


def _digest(*, user_id: int, binding: str, nonce: bytes, issued: bytes) -> bytes:
    return hashlib.sha256(PREFIX + f"{int(user_id)}|{binding}|".encode() + nonce + issued).digest()


def challenge_make(*, user_id: int, binding: str, now: float | None = None) -> bytes:
    nonce = secrets.token_bytes(NONCE_BYTES)
    issued = struct.pack(">Q", int(time.time() if now is None else now))
    return nonce + issued + _digest(user_id=user_id, binding=binding, nonce=nonce, issued=issued)


def challenge_check(*, challenge: bytes, user_id: int, binding: str, max_age: int, now: float | None = None) -> str:
    """The challenge's nonce (hex) when it was made for ``user_id`` and ``binding`` less than ``max_age``
    seconds ago; ChallengeMismatch otherwise."""
    if not isinstance(challenge, bytes | bytearray) or len(challenge) != LENGTH:
        raise ChallengeMismatch("passkey_challenge_invalid", "The passkey response answers no challenge of dsign.")
    nonce, issued, digest = challenge[:NONCE_BYTES], challenge[NONCE_BYTES:-32], challenge[-32:]
    if not hmac.compare_digest(digest, _digest(user_id=user_id, binding=binding, nonce=nonce, issued=issued)):
        raise ChallengeMismatch(
            "passkey_other_purpose",
            "The passkey response was made for another user, document, version or purpose.",
        )
    now = time.time() if now is None else now
    (at,) = struct.unpack(">Q", issued)
    if at > now + CLOCK_SKEW_SECONDS or now - at > max_age:
        raise ChallengeMismatch("passkey_challenge_expired", "The passkey challenge has expired; try again.")
    return nonce.hex()

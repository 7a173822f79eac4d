"""The signer: the only component that uses users' keys, and only with signature activation data.

It runs in the ``manage.py signer`` process (the only process given the users' token PIN; the web
tier and the qcluster workers reach it over a local Unix socket through ``core.signer``), or
in-process where a process holds that PIN itself (the test suite, an administrator's shell).

Signature activation data (SAD) is a short token, MACed with an HMAC key that never leaves the
users' token, binding: the user, the documents they confirmed with, for each, the SHA-256 and size
of the version they were shown, an expiry and a nonce. It is issued by ``activate`` only for a code
that opens one of the user's factor secrets, which are sealed (AES-GCM) under a second key of that
token: a TOTP seed, a backup code, an e-mailed/SMS code — or for a passkey assertion (WebAuthn), verified
here with py_webauthn against the credential's sealed public key and this signer's own sign counter, whose
challenge carries exactly the items activated (``core.passkeys``: the user's device signed the documents'
hashes, so not even a compromised web tier can use it for another document). ``sign`` then signs a
user's hash only when:

* the SAD's MAC verifies, it names the key's owner (labels are ``user-<id>-…``) and lists the job's
  document, and it is presented before it expires (a job's retries may present it again while its
  signature is not yet confirmed, SIGNATURE_ACTIVATION_RETRY_SECONDS at most);
* the hash is the ``messageDigest`` of the signed attributes, recomputed here over the ByteRange of
  the prepared PDF sent along, and that PDF starts with exactly the version the user confirmed
  (incremental updates keep earlier bytes), so the signature covers what the user saw;
* the SAD has not been spent on that document: ``confirm`` (sent by the worker once the signed
  version is stored) spends it, and a spent SAD is refused ("replayed").

The signer keeps its own small ledger (SQLite under SIGNER_STATE_DIR): SAD uses, spent factor
codes and passkey challenges, TOTP steps, passkey sign counters and wrong-code lock-outs. Nothing in
dsign's database lets anyone mint SAD.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import struct
import threading
import time
from dataclasses import dataclass

from asn1crypto import cms, keys

from core import hsm
from core import signer as signer_client

SAD_KEY = "signer-sad-key"
FACTOR_KEY = "signer-factor-key"
SAD_PREFIX = b"dsign-sad-v1|"
TOTP_STEP = 30
TOTP_DRIFT_STEPS = 1
MAX_USES_PER_DOCUMENT = 20
BACKSTOP_FAILURES = 10
FACTOR_KINDS = ("totp", "static", "once", "webauthn")
CODE_KINDS = ("totp", "static", "once")

__all__ = ["SignerRefused", "handle"]


class SignerRefused(Exception):
    """The signer refuses; ``code`` is stable (tests and clients rely on it), ``message`` for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


_b64 = signer_client.b64encode


def _unb64(text: str) -> bytes:
    try:
        return signer_client.b64decode(text)
    except (ValueError, TypeError) as exc:
        raise SignerRefused("bad_request", "not base64") from exc


# --- keys and ledger ---------------------------------------------------------------------------

_keys_ready: set[int] = set()
_ledger_lock = threading.Lock()


def _settings():
    from django.conf import settings

    return settings


def keys_ensure() -> None:
    """The SAD MAC key and the factor-sealing key exist in the users' token (created once)."""
    _ensure_keys()


def _ensure_keys() -> None:
    import os

    if os.getpid() in _keys_ready:
        return
    hsm.secret_key_ensure(label=SAD_KEY, kind="hmac")
    hsm.secret_key_ensure(label=FACTOR_KEY, kind="aes")
    _keys_ready.add(os.getpid())


def _ledger() -> sqlite3.Connection:
    state = _settings().SIGNER_STATE_DIR
    state.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(state / "ledger.sqlite3", timeout=30, isolation_level=None)
    connection.executescript(
        """
        PRAGMA journal_mode=WAL;
        CREATE TABLE IF NOT EXISTS sad_use (nonce TEXT, subject INTEGER, first_used REAL, uses INTEGER,
            confirmed INTEGER DEFAULT 0, PRIMARY KEY (nonce, subject));
        CREATE TABLE IF NOT EXISTS factor_spent (factor TEXT PRIMARY KEY, at REAL);
        CREATE TABLE IF NOT EXISTS totp_step (factor TEXT PRIMARY KEY, step INTEGER);
        CREATE TABLE IF NOT EXISTS failures (user_id INTEGER PRIMARY KEY, count INTEGER, locked_until REAL);
        CREATE TABLE IF NOT EXISTS passkey_count (credential TEXT PRIMARY KEY, count INTEGER);
        """
    )
    return connection


@contextlib.contextmanager
def _ledger_open():
    """The ledger under this process's lock, closed afterwards; a transaction an error left open is
    rolled back (closing would too, but this says so)."""
    with _ledger_lock:
        ledger = _ledger()
        try:
            yield ledger
        except BaseException:
            if ledger.in_transaction:
                ledger.execute("ROLLBACK")
            raise
        finally:
            ledger.close()


# --- factors ------------------------------------------------------------------------------------


def _factor_aad(user_id: int, kind: str) -> bytes:
    return f"dsign-factor-v1|{user_id}|{kind}".encode()


def seal(*, user_id: int, kind: str, secret: str, valid_until: float | None = None) -> dict:
    """Seal a factor secret for ``user_id``; only this signer can open it again."""
    if kind not in FACTOR_KINDS:
        raise SignerRefused("bad_request", f"unknown factor kind {kind!r}")
    _ensure_keys()
    body = json.dumps({"s": secret, "until": valid_until, "id": secrets.token_hex(8)}).encode()
    sealed = hsm.secret_encrypt(label=FACTOR_KEY, plaintext=body, aad=_factor_aad(user_id, kind))
    return {"sealed": _b64(sealed)}


def reseal(*, user_id: int, kind: str, sealed: str, from_config: hsm.HSMConfig) -> str:
    """Open a factor sealed under the factor key of another token (the single token, ``hsm_split``)
    and seal it under this signer's key; the secret passes through this process only."""
    _ensure_keys()
    body = hsm.secret_decrypt(
        label=FACTOR_KEY, sealed=_unb64(sealed), aad=_factor_aad(user_id, kind), config=from_config
    )
    return _b64(hsm.secret_encrypt(label=FACTOR_KEY, plaintext=body, aad=_factor_aad(user_id, kind)))


@dataclass(frozen=True)
class _Factor:
    kind: str
    secret: str
    until: float | None
    factor_id: str


def _open(*, user_id: int, factor: dict) -> _Factor | None:
    kind = factor.get("kind")
    if kind not in FACTOR_KINDS:
        return None
    try:
        body = hsm.secret_decrypt(
            label=FACTOR_KEY, sealed=_unb64(factor.get("sealed", "")), aad=_factor_aad(user_id, kind)
        )
        data = json.loads(body)
    except (hsm.HSMError, SignerRefused, ValueError):
        # Altered, or sealed for another user: it simply does not count.
        return None
    return _Factor(kind=kind, secret=data["s"], until=data.get("until"), factor_id=data["id"])


def _totp(seed: bytes, step: int, digits: int = 6) -> str:
    mac = hmac.new(seed, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def _matches(ledger: sqlite3.Connection, factor: _Factor, code: str, now: float) -> bool:
    """Whether ``code`` opens ``factor`` now; records the use so the same code cannot be used again."""
    if factor.kind not in CODE_KINDS:
        return False
    if factor.kind == "totp":
        seed = bytes.fromhex(factor.secret)
        current = int(now // TOTP_STEP)
        row = ledger.execute("SELECT step FROM totp_step WHERE factor=?", (factor.factor_id,)).fetchone()
        last = row[0] if row else -1
        for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
            if step > last and hmac.compare_digest(_totp(seed, step), code):
                ledger.execute(
                    "INSERT OR REPLACE INTO totp_step (factor, step) VALUES (?, ?)", (factor.factor_id, step)
                )
                return True
        return False
    if factor.until is not None and now > factor.until:
        return False
    if not hmac.compare_digest(factor.secret.encode(), code.encode()):
        return False
    try:
        ledger.execute("INSERT INTO factor_spent (factor, at) VALUES (?, ?)", (factor.factor_id, now))
    except sqlite3.IntegrityError:
        return False
    return True


def _check_code(*, user_id: int, code: str, factors: list[dict]) -> str:
    """The index (as text) of the factor the code opened; SignerRefused otherwise. Throttled per user."""
    code = (code or "").strip().replace(" ", "")
    if not code:
        raise SignerRefused("code_missing", "A one-time code (OTP) is required to sign.")
    _ensure_keys()
    now = time.time()
    with _ledger_open() as ledger:
        row = _backstop_check(ledger, user_id, now)
        opened = [(i, _open(user_id=user_id, factor=f)) for i, f in enumerate(factors or [])]
        if not any(f for _, f in opened):
            raise SignerRefused("no_factor", "You have no MFA device that can activate signatures; enrol one.")
        ledger.execute("BEGIN IMMEDIATE")
        for index, factor in opened:
            if factor is not None and _matches(ledger, factor, code, now):
                ledger.execute("DELETE FROM failures WHERE user_id=?", (user_id,))
                ledger.execute("COMMIT")
                return str(index)
        _backstop_count(ledger, user_id, row, now)
        ledger.execute("COMMIT")
    raise SignerRefused("wrong_code", "The one-time code (OTP) is wrong or expired.")


def _backstop_check(ledger: sqlite3.Connection, user_id: int, now: float):
    row = ledger.execute("SELECT count, locked_until FROM failures WHERE user_id=?", (user_id,)).fetchone()
    if row and row[1] and now < row[1]:
        raise SignerRefused("throttled", f"locked until {row[1]:.0f}")
    return row


def _backstop_count(ledger: sqlite3.Connection, user_id: int, row, now: float) -> None:
    # django-otp throttles each device for the people using the web tier; this is the signer's own
    # backstop against anyone using it as an oracle: after BACKSTOP_FAILURES failures in a row the
    # user's factors are locked for a minute, doubling each time.
    count = (row[0] if row else 0) + 1
    over = count - BACKSTOP_FAILURES
    locked_until = now + 60 * 2 ** min(over, 10) if over >= 0 else None
    ledger.execute(
        "INSERT OR REPLACE INTO failures (user_id, count, locked_until) VALUES (?, ?, ?)",
        (user_id, count, locked_until),
    )


def _check_assertion(*, user_id: int, assertion, binding: str, factors: list[dict]) -> str:
    """The index (as text) of the sealed passkey that made ``assertion`` for a challenge carrying
    ``binding`` (core.passkeys), verified here with py_webauthn: the sealed public key, this signer's own
    sign counter, user verification, the configured RP ID and origins; each challenge works once."""
    from core import passkeys as binding_rules

    try:
        from webauthn import verify_authentication_response
        from webauthn.helpers import bytes_to_base64url, parse_authentication_credential_json, parse_client_data_json
        from webauthn.helpers.exceptions import WebAuthnException

        credential = parse_authentication_credential_json(
            json.dumps(assertion) if isinstance(assertion, dict) else str(assertion or "")
        )
        challenge = parse_client_data_json(credential.response.client_data_json).challenge
    except (ValueError, TypeError, KeyError, AttributeError, WebAuthnException) as exc:
        raise SignerRefused("passkey_invalid", "Not a WebAuthn assertion.") from exc
    settings = _settings()
    try:
        nonce = binding_rules.challenge_check(
            challenge=challenge, user_id=user_id, binding=binding, max_age=settings.WEBAUTHN_CHALLENGE_SECONDS
        )
    except binding_rules.ChallengeMismatch as exc:
        raise SignerRefused(exc.code, exc.message) from exc
    credential_id = bytes_to_base64url(credential.raw_id)
    _ensure_keys()
    now = time.time()
    with _ledger_open() as ledger:
        row = _backstop_check(ledger, user_id, now)
        found = None
        for index, sealed in enumerate(factors or []):
            factor = _open(user_id=user_id, factor=sealed) if sealed.get("kind") == "webauthn" else None
            if factor is not None and json.loads(factor.secret).get("cid") == credential_id:
                found = (index, json.loads(factor.secret))
                break
        if found is None:
            raise SignerRefused("passkey_unknown", "This passkey cannot activate signatures for this user.")
        index, secret = found
        counter_key = f"{int(user_id)}|{credential_id}"
        ledger.execute("BEGIN IMMEDIATE")
        counted = ledger.execute("SELECT count FROM passkey_count WHERE credential=?", (counter_key,)).fetchone()
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=settings.WEBAUTHN_RP_ID,
                expected_origin=list(settings.WEBAUTHN_ORIGINS),
                credential_public_key=_unb64(secret["pk"]),
                credential_current_sign_count=counted[0] if counted else 0,
                require_user_verification=True,
            )
        except WebAuthnException as exc:
            _backstop_count(ledger, user_id, row, now)
            ledger.execute("COMMIT")
            code = "passkey_counter" if "sign count" in str(exc) else "passkey_refused"
            raise SignerRefused(code, f"The passkey assertion does not verify: {exc}") from exc
        try:
            ledger.execute("INSERT INTO factor_spent (factor, at) VALUES (?, ?)", (f"passkey:{nonce}", now))
        except sqlite3.IntegrityError as exc:
            ledger.execute("ROLLBACK")
            raise SignerRefused("passkey_replayed", "This passkey assertion was already used.") from exc
        ledger.execute(
            "INSERT OR REPLACE INTO passkey_count (credential, count) VALUES (?, ?)",
            (counter_key, verified.new_sign_count),
        )
        ledger.execute("DELETE FROM failures WHERE user_id=?", (user_id,))
        ledger.execute("COMMIT")
        return str(index)


def verify(*, user_id: int, factors: list[dict], code: str = "", assertion=None, purpose: str = "") -> dict:
    """Check a code or a passkey assertion made for ``purpose`` (a step-up that is not a signature,
    e.g. before enrolling a new device)."""
    if assertion is not None:
        from core import passkeys as binding_rules

        if not re.fullmatch(r"[a-z_]{1,40}", purpose or ""):
            raise SignerRefused("bad_request", "a passkey step-up names its purpose")
        binding = binding_rules.purpose_binding(purpose)
        return {"factor": int(_check_assertion(user_id=user_id, assertion=assertion, binding=binding, factors=factors))}
    return {"factor": int(_check_code(user_id=user_id, code=code, factors=factors))}


# --- activation data ----------------------------------------------------------------------------


def _sad_items(items: list) -> list[dict]:
    cleaned = []
    for item in items or []:
        try:
            subject, sha256, size = int(item["subject"]), str(item["sha256"]).lower(), int(item["size"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SignerRefused("bad_request", "each item needs subject, sha256 and size") from exc
        if not re.fullmatch(r"[0-9a-f]{64}", sha256) or size <= 0:
            raise SignerRefused("bad_request", "sha256 must be 64 hex digits and size positive")
        cleaned.append({"subject": subject, "sha256": sha256, "size": size})
    if not cleaned:
        raise SignerRefused("bad_request", "nothing to activate")
    return cleaned


PURPOSES = ("sign", "decrypt")


def activate(
    *, user_id: int, items: list, factors: list[dict], code: str = "", assertion=None, purpose: str = "sign"
) -> dict:
    """Activation data for ``items`` after the user's code, or after a passkey assertion whose challenge
    carries exactly these items (core.passkeys.items_binding): the documents the user confirmed
    (``purpose`` "sign"), or the key-transport blocks of an encrypted copy they open ("decrypt"). Each use
    needs the data issued for it: a SAD issued to decrypt never signs, and one issued to sign never decrypts."""
    if purpose not in PURPOSES:
        raise SignerRefused("bad_request", f"unknown purpose {purpose!r}")
    items = _sad_items(items)
    if assertion is not None:
        from core import passkeys as binding_rules

        binding = binding_rules.items_binding(items)
        factor = _check_assertion(user_id=user_id, assertion=assertion, binding=binding, factors=factors)
    else:
        factor = _check_code(user_id=user_id, code=code, factors=factors)
    now = int(time.time())
    payload = {
        "v": 1,
        "user": int(user_id),
        "purpose": purpose,
        "items": items,
        "iat": now,
        "exp": now + int(_settings().SIGNATURE_ACTIVATION_SECONDS),
        "nonce": secrets.token_hex(16),
    }
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    mac = hsm.hmac_sign(label=SAD_KEY, data=SAD_PREFIX + body)
    return {"sad": f"{_b64(body)}.{_b64(mac)}", "factor": int(factor), "exp": payload["exp"]}


def _sad_open(sad: str) -> dict:
    if not sad or not isinstance(sad, str) or sad.count(".") != 1:
        raise SignerRefused("activation_missing", "No signature activation data.")
    body_text, mac_text = sad.split(".")
    body, mac = _unb64(body_text), _unb64(mac_text)
    _ensure_keys()
    if not hsm.hmac_verify(label=SAD_KEY, data=SAD_PREFIX + body, mac=mac):
        raise SignerRefused("activation_invalid", "The signature activation data is not genuine.")
    return json.loads(body)


_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


def _covered(prepared: bytes) -> tuple[bytes, int]:
    """The bytes the new signature covers (its ByteRange) and the length of the first range."""
    ranges = list(_BYTE_RANGE.finditer(prepared))
    if not ranges:
        raise SignerRefused("bad_document", "The prepared document has no signature ByteRange.")
    a, b, c, d = (int(x) for x in ranges[-1].groups())
    if a != 0 or c < b or c + d != len(prepared):
        raise SignerRefused("bad_document", "The signature ByteRange does not cover the whole document.")
    return prepared[a : a + b] + prepared[c : c + d], b


def _message_digest(signed_attrs: bytes) -> bytes:
    try:
        attributes = cms.CMSAttributes.load(signed_attrs, strict=True)
        for attribute in attributes:
            if attribute["type"].native == "message_digest":
                return bytes(attribute["values"][0].native)
    except (ValueError, TypeError, KeyError) as exc:
        raise SignerRefused("bad_request", "The data to sign are not CMS signed attributes.") from exc
    raise SignerRefused("bad_request", "The signed attributes carry no message digest.")


def _owner_of(label: str) -> int:
    match = re.fullmatch(r"user-(\d+)-[0-9a-zA-Z_-]+", label or "")
    if not match:
        raise SignerRefused("not_a_user_key", "The signer signs with users' keys only.")
    return int(match.group(1))


def sign(*, sad: str, subject: int, key_label: str, signed_attrs: str, prepared: str, digest_algorithm: str) -> dict:
    """A user's raw signature over CMS signed attributes, under the rules of the module docstring."""
    if digest_algorithm != "sha256":
        raise SignerRefused("bad_request", "only SHA-256 signatures are activated")
    payload = _sad_open(sad)
    if payload.get("purpose", "sign") != "sign":
        raise SignerRefused("activation_other_purpose", "These activation data are not for signing.")
    item = _sad_item(payload, key_label=key_label, subject=subject)
    data, prepared_bytes = _unb64(signed_attrs), _unb64(prepared)
    covered, first_range = _covered(prepared_bytes)
    if _message_digest(data) != hashlib.sha256(covered).digest():
        raise SignerRefused("activation_other_document", "The hash to sign is not the prepared document's.")
    size = item["size"]
    if size > first_range or hashlib.sha256(prepared_bytes[:size]).hexdigest() != item["sha256"]:
        raise SignerRefused(
            "activation_other_document", "The document is not the version the user confirmed (SHA-256 differs)."
        )
    _use(payload, subject=int(subject))
    signature = hsm.sign_raw(label=key_label, data=data, digest_algorithm="sha256")
    return {"signature": _b64(signature)}


def _sad_item(payload: dict, *, key_label: str, subject: int) -> dict:
    """The item of ``payload`` for ``subject``, when the SAD belongs to the owner of ``key_label``."""
    owner = _owner_of(key_label)
    if payload.get("user") != owner:
        raise SignerRefused("activation_other_user", "The activation data belong to another user.")
    item = next((i for i in payload.get("items", []) if i["subject"] == int(subject)), None)
    if item is None:
        raise SignerRefused("activation_other_document", "The activation data do not cover this document.")
    return item


DECRYPT_MECHANISMS = ("rsa_pkcs", "rsa_oaep_sha256", "rsa_oaep_sha1")


def decrypt(*, sad: str, subject: int, key_label: str, encrypted_key: str, mechanism: str) -> dict:
    """The file key of an encrypted copy, unwrapped with the user's encryption key, under the same rules
    as a signature: activation data issued after the user's fresh code, for ``purpose`` "decrypt", naming
    the key's owner and this very key-transport block (its SHA-256 and size), used once."""
    if mechanism not in DECRYPT_MECHANISMS:
        raise SignerRefused("bad_request", f"unknown mechanism {mechanism!r}")
    payload = _sad_open(sad)
    if payload.get("purpose") != "decrypt":
        raise SignerRefused("activation_other_purpose", "These activation data are not for decryption.")
    item = _sad_item(payload, key_label=key_label, subject=subject)
    blob = _unb64(encrypted_key)
    if len(blob) != item["size"] or hashlib.sha256(blob).hexdigest() != item["sha256"]:
        raise SignerRefused("activation_other_document", "The activation data are for another encrypted copy.")
    _use(payload, subject=int(subject))
    confirm(sad=sad, subject=int(subject))  # one decryption per activation: nothing to retry
    return {"plaintext": _b64(hsm.decrypt_raw(label=key_label, data=blob, mechanism=mechanism))}


def _use(payload: dict, *, subject: int) -> None:
    settings = _settings()
    now = time.time()
    with _ledger_open() as ledger:
        ledger.execute("BEGIN IMMEDIATE")
        row = ledger.execute(
            "SELECT first_used, uses, confirmed FROM sad_use WHERE nonce=? AND subject=?",
            (payload["nonce"], subject),
        ).fetchone()
        if row is None:
            if now > payload["exp"]:
                raise SignerRefused("activation_expired", "The signature activation data have expired.")
            ledger.execute(
                "INSERT INTO sad_use (nonce, subject, first_used, uses) VALUES (?, ?, ?, 1)",
                (payload["nonce"], subject, now),
            )
        else:
            first_used, uses, confirmed = row
            if confirmed:
                raise SignerRefused("activation_replayed", "The signature activation data were already used.")
            if now > first_used + settings.SIGNATURE_ACTIVATION_RETRY_SECONDS or uses >= MAX_USES_PER_DOCUMENT:
                raise SignerRefused("activation_expired", "The signature activation data have expired.")
            ledger.execute(
                "UPDATE sad_use SET uses = uses + 1 WHERE nonce=? AND subject=?", (payload["nonce"], subject)
            )
        ledger.execute("COMMIT")


def confirm(*, sad: str, subject: int) -> dict:
    """The signature made with ``sad`` for ``subject`` is stored: the activation is spent."""
    payload = _sad_open(sad)
    with _ledger_open() as ledger:
        ledger.execute(
            "INSERT INTO sad_use (nonce, subject, first_used, uses, confirmed) VALUES (?, ?, ?, 0, 1) "
            "ON CONFLICT (nonce, subject) DO UPDATE SET confirmed = 1",
            (payload["nonce"], int(subject), time.time()),
        )
    return {"confirmed": True}


# --- users' keys: generation and import (no activation needed: a key without a certificate signs
# nothing anyone trusts), and a CSR's proof of possession (the data must be that key's CSR info) ---


def key_generate(*, label: str, algorithm: str, usage: str = "sign") -> dict:
    _owner_of(label)
    return {"public_key": _b64(hsm.key_generate(label=label, algorithm=algorithm, usage=usage).dump())}


def key_public(*, label: str) -> dict:
    _owner_of(label)
    return {"public_key": _b64(hsm.key_public(label=label).dump())}


def key_import(*, label: str, private_key: str) -> dict:
    _owner_of(label)
    info = keys.PrivateKeyInfo.load(_unb64(private_key))
    return {"public_key": _b64(hsm.key_import(label=label, private_key=info).dump())}


def csr_sign(*, label: str, info: str) -> dict:
    from asn1crypto import csr

    _owner_of(label)
    data = _unb64(info)
    try:
        parsed = csr.CertificationRequestInfo.load(data, strict=True)
        public = parsed["subject_pk_info"].dump()
    except (ValueError, TypeError) as exc:
        raise SignerRefused("bad_request", "not a certification request info") from exc
    if public != hsm.key_public(label=label).dump():
        raise SignerRefused("bad_request", "the request is for another key")
    return {"signature": _b64(hsm.sign_raw(label=label, data=data))}


_OPERATIONS = {
    "seal": seal,
    "verify": verify,
    "activate": activate,
    "sign": sign,
    "decrypt": decrypt,
    "confirm": confirm,
    "key_generate": key_generate,
    "key_public": key_public,
    "key_import": key_import,
    "csr_sign": csr_sign,
}


def handle(request: dict) -> dict:
    """One request ``{"op": …, **arguments}`` → ``{"ok": true, …}`` or ``{"ok": false, "code", "message"}``."""
    operation = _OPERATIONS.get(request.get("op"))
    if operation is None:
        return {"ok": False, "code": "bad_request", "message": "unknown operation"}
    arguments = {k: v for k, v in request.items() if k != "op"}
    try:
        return {"ok": True, **operation(**arguments)}
    except SignerRefused as exc:
        return {"ok": False, "code": exc.code, "message": exc.message}
    except (TypeError, ValueError) as exc:
        return {"ok": False, "code": "bad_request", "message": f"bad arguments: {exc}"}
    except hsm.KeyNotFound as exc:
        return {"ok": False, "code": "key_missing", "message": str(exc)}
    except hsm.HSMUnavailable as exc:
        return {"ok": False, "code": "hsm_unavailable", "message": str(exc)}
    except hsm.HSMError as exc:
        return {"ok": False, "code": "hsm_error", "message": str(exc)}

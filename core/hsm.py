"""The PKCS#11 token: configuration, a fork-safe session pool, key lifecycle and raw signing.

This is the only module in dsign that imports ``pkcs11``. Everything else asks it for what it
needs by key label: a public key, a raw signature (certificates, CRLs, OCSP, timestamps) or a
pyHanko ``Signer`` for PAdES. Private keys are generated (or imported) into the token as
sensitive and non-extractable and never come back out; there is no software-key fallback.

Errors are typed: ``HSMUnavailable`` is transient (token missing, library or session failure;
callers retry with backoff), ``KeyNotFound`` is permanent, other ``HSMError`` are permanent too.

Keys apart: a process may be configured with several tokens ("realms"): ``ca`` (root and issuing
CA), ``root`` (the root, when it is kept in its own, usually offline, token), ``services`` (OCSP
responder, TSA), ``users`` (users' signing keys and the signer's own activation keys). A key's realm
follows from its label (``realm_of``); a realm that is not configured falls back to the default
token, so a single-token installation and the unit tests work unchanged. A realm configured without
a PIN (the web tier's ``users``) refuses every private-key operation with ``NoPIN``.

Concurrency: ``python-pkcs11`` initialises the module without locking callbacks, so SoftHSM runs
with its mutexes disabled. Every module call in this process therefore holds ``_module_lock``;
parallelism comes from processes (web and qcluster workers), each with its own pool. After a
fork the child drops the parent's library state and sessions and initialises its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pkcs11
from asn1crypto import core, keys, x509
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11_errors
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)
from pkcs11.util.rsa import decode_rsa_private_key, encode_rsa_public_key
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.sign.signers import Signer

__all__ = [
    "KEY_ALGORITHMS",
    "HSMConfig",
    "HSMError",
    "HSMUnavailable",
    "KeyNotFound",
    "NoPIN",
    "configure_realms",
    "realm_of",
    "secret_key_ensure",
    "secret_encrypt",
    "secret_decrypt",
    "hmac_sign",
    "hmac_verify",
    "random_bytes",
    "configure",
    "get_config",
    "health",
    "key_attributes",
    "key_delete",
    "key_exists",
    "key_generate",
    "key_import",
    "key_public",
    "pyhanko_signer",
    "session",
    "sign_raw",
    "signature_algorithm_for",
    "signer",
    "token_ensure",
    "token_visible",
    "labels",
    "configuration",
    "realms",
]

KEY_ALGORITHMS = ("rsa2048", "rsa3072", "ec-p256")
_RSA_BITS = {"rsa2048": 2048, "rsa3072": 3072}
_RSA_MECHANISMS = {
    "sha256": Mechanism.SHA256_RSA_PKCS,
    "sha384": Mechanism.SHA384_RSA_PKCS,
    "sha512": Mechanism.SHA512_RSA_PKCS,
}
_INIT_ATTEMPTS = 6
_INIT_BACKOFF_SECONDS = 0.05
_BORROW_TIMEOUT_SECONDS = 30.0

# Failures that a fresh library initialisation (or the token coming back) can cure.
_TRANSIENT = (
    p11_errors.NoSuchToken,
    p11_errors.TokenNotPresent,
    p11_errors.TokenNotRecognised,
    p11_errors.DeviceRemoved,
    p11_errors.DeviceError,
    p11_errors.DeviceMemory,
    p11_errors.GeneralError,
    p11_errors.FunctionFailed,
    p11_errors.SessionClosed,
    p11_errors.SessionHandleInvalid,
    p11_errors.SessionCount,
    p11_errors.HostMemory,
    p11_errors.UserNotLoggedIn,
)


class HSMError(Exception):
    """A token operation failed and retrying will not help."""


class HSMUnavailable(HSMError):
    """The token, library or session is not usable right now; retry later."""


class KeyNotFound(HSMError):
    """No key with that label exists in the token."""


class NoPIN(HSMError):
    """This process holds no PIN for the token of that key (by design: e.g. users' keys in the web tier)."""


@dataclass(frozen=True)
class HSMConfig:
    module_path: str
    token_label: str
    user_pin: str | None = field(repr=False)
    so_pin: str | None = field(default=None, repr=False)
    pool_size: int = 4


@dataclass
class _Pool:
    config: HSMConfig
    pid: int
    token: object
    idle: list = field(default_factory=list)
    opened: int = 0
    lent: int = 0
    logged_in: bool = False
    broken: bool = False


_config: HSMConfig | None = None
_realms: dict[str, HSMConfig] = {}
# One pool per token label.
_pools: dict[str, _Pool] = {}
_library_pid: int | None = None
_state_lock = threading.Lock()
_available = threading.Condition(_state_lock)
_module_lock = threading.RLock()
_borrowed = threading.local()


def _after_fork_in_child() -> None:
    # The parent's locks may have been held by another thread at fork time, and its sessions
    # belong to the parent's module state: start clean.
    global _state_lock, _available, _module_lock, _borrowed
    _pools.clear()
    _state_lock = threading.Lock()
    _available = threading.Condition(_state_lock)
    _module_lock = threading.RLock()
    _borrowed = threading.local()


os.register_at_fork(after_in_child=_after_fork_in_child)


def configure(config: HSMConfig) -> None:
    """Set the process-wide token configuration (one token for every key); the next borrow
    re-initialises the library."""
    configure_realms(default=config, realms={})


def configure_realms(*, default: HSMConfig, realms: dict[str, HSMConfig]) -> None:
    """Set the default token and the tokens of the realms ``ca``, ``root``, ``services``, ``users``."""
    global _config, _library_pid
    with _state_lock:
        _config = default
        _realms.clear()
        _realms.update(realms)
        _pools.clear()
        # Reloading also re-reads SOFTHSM2_CONF, which tests point at a fresh token directory.
        _library_pid = None
        _key_kinds.clear()


def get_config(realm: str | None = None) -> HSMConfig:
    """The token configuration of ``realm`` (the default token when the realm has none of its own)."""
    if _config is None:
        raise HSMError("the HSM is not configured (core.hsm.configure was never called)")
    if realm is None:
        return _config
    if realm == "root" and "root" not in _realms:
        realm = "ca"
    return _realms.get(realm, _config)


def configuration() -> tuple[HSMConfig | None, dict[str, HSMConfig]]:
    """What ``configure_realms`` was last given."""
    return _config, dict(_realms)


def realms() -> dict[str, HSMConfig]:
    """Every configured realm with its token (the default one for realms without their own)."""
    return {name: get_config(name) for name in ("ca", "root", "services", "users")}


# Label prefixes and their realm, most specific first.
_REALM_PREFIXES = (
    ("ca-root", "root"),
    ("ca-ocsp", "services"),
    ("ca-tsa", "services"),
    ("ca-", "ca"),
    ("user-", "users"),
    ("signer-", "users"),
)


def realm_of(label: str) -> str | None:
    """The realm whose token holds the key ``label`` (None: the default token)."""
    for prefix, realm in _REALM_PREFIXES:
        if label.startswith(prefix):
            return realm
    return None


def _config_of(label: str | None) -> HSMConfig:
    return get_config(realm_of(label) if label else None)


# --- library and pool -------------------------------------------------------------------------


def _load_library(config: HSMConfig, *, force: bool):
    global _library_pid
    try:
        lib = pkcs11.lib(config.module_path)
    except p11_errors.PKCS11Error as exc:
        raise HSMUnavailable(f"cannot load PKCS#11 module {config.module_path}: {exc}") from exc
    if force or _library_pid != os.getpid():
        with contextlib.suppress(p11_errors.PKCS11Error):
            lib.finalize()
        lib.initialize()
        _library_pid = os.getpid()
    return lib


def _new_pool(config: HSMConfig) -> _Pool:
    last_error: Exception | None = None
    for attempt in range(_INIT_ATTEMPTS):
        try:
            with _module_lock:
                lib = _load_library(config, force=attempt > 0)
                token = lib.get_token(token_label=config.token_label)
            return _Pool(config=config, pid=os.getpid(), token=token)
        except (*_TRANSIENT, HSMUnavailable) as exc:
            last_error = exc
            time.sleep(_INIT_BACKOFF_SECONDS * (2**attempt))
        except p11_errors.PKCS11Error as exc:
            raise HSMError(f"PKCS#11 module failed: {exc!r}") from exc
    raise HSMUnavailable(f"token {config.token_label!r} not available: {last_error!r}")


def _open_session(pool: _Pool):
    with _module_lock:
        if pool.logged_in:
            return pool.token.open(rw=True)
        if not pool.config.user_pin:
            raise NoPIN(f"this process holds no PIN for token {pool.config.token_label!r}")
        try:
            opened = pool.token.open(rw=True, user_pin=pool.config.user_pin)
        except p11_errors.UserAlreadyLoggedIn:
            # Login state is per application, so another session already did it for us.
            opened = pool.token.open(rw=True)
        except (
            p11_errors.PinIncorrect,
            p11_errors.PinLocked,
            p11_errors.PinExpired,
        ) as exc:
            raise HSMError(f"login to token {pool.config.token_label!r} refused: {exc!r}") from exc
        pool.logged_in = True
        return opened


def _current_pool(config: HSMConfig) -> _Pool:
    """The pool of this process for the token, rebuilt after a fork, a reconfigure or a transient failure."""
    pool = _pools.get(config.token_label)
    if pool is not None and pool.pid == os.getpid() and not (pool.broken and pool.lent == 0):
        return pool
    pool = _new_pool(config)
    _pools[config.token_label] = pool
    return pool


def _borrow(config: HSMConfig):
    deadline = time.monotonic() + _BORROW_TIMEOUT_SECONDS
    with _available:
        while True:
            pool = _current_pool(config)
            if pool.idle:
                pool.lent += 1
                return pool, pool.idle.pop()
            if pool.opened < pool.config.pool_size:
                pool.opened += 1
                pool.lent += 1
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HSMUnavailable("no free HSM session in this process")
            _available.wait(remaining)
    try:
        return pool, _open_session_retrying(pool)
    except BaseException:
        with _available:
            pool.opened -= 1
            pool.lent -= 1
            _available.notify()
        raise


def _open_session_retrying(pool: _Pool):
    last_error: Exception | None = None
    for attempt in range(_INIT_ATTEMPTS):
        try:
            if attempt:
                _reinitialise(pool)
            return _open_session(pool)
        except _TRANSIENT as exc:
            # Concurrent processes initialising SoftHSM sometimes see a half-written token.
            last_error = exc
            time.sleep(_INIT_BACKOFF_SECONDS * (2**attempt))
    raise HSMUnavailable(f"cannot open a session on {pool.config.token_label!r}: {last_error!r}")


def _reinitialise(pool: _Pool) -> None:
    """Start the module afresh; every session opened before is gone with it."""
    # Lock order is state before module, as in _borrow. Finalising the library ends the sessions
    # of every token's pool, not only this one's.
    with _available:
        for other in list(_pools.values()):
            other.opened -= len(other.idle)
            other.idle.clear()
            other.logged_in = False
            if other is not pool:
                other.broken = True
    with _module_lock:
        lib = _load_library(pool.config, force=True)
        pool.token = lib.get_token(token_label=pool.config.token_label)


def _give_back(pool: _Pool, borrowed, *, healthy: bool) -> None:
    with _available:
        pool.lent -= 1
        if healthy and not pool.broken and pool is _pools.get(pool.config.token_label):
            pool.idle.append(borrowed)
        else:
            pool.opened -= 1
            if not healthy:
                pool.broken = True
        _available.notify()


def _translate(exc: Exception) -> HSMError:
    if isinstance(exc, _TRANSIENT):
        return HSMUnavailable(f"HSM operation failed: {exc!r}")
    if isinstance(exc, p11_errors.NoSuchKey):
        return KeyNotFound(str(exc))
    return HSMError(f"HSM operation failed: {exc!r}")


@contextlib.contextmanager
def session(*, label: str | None = None, realm: str | None = None, config: HSMConfig | None = None) -> Iterator[object]:
    """Borrow a logged-in session of this process's pool for the duration of the block: on the
    token of key ``label``, of ``realm``, or the default token.

    PKCS#11 errors raised inside the block come out as ``HSMError`` subclasses; a transient one
    retires the pool so the next borrow starts from a fresh library initialisation.
    """
    if config is None:
        config = get_config(realm) if realm else _config_of(label)
    pool, borrowed = _borrow(config)
    stack = getattr(_borrowed, "stack", None)
    if stack is None:
        stack = _borrowed.stack = []
    stack.append(borrowed)
    healthy = True
    try:
        yield borrowed
    except p11_errors.PKCS11Error as exc:
        healthy = not isinstance(exc, _TRANSIENT)
        raise _translate(exc) from exc
    finally:
        stack.pop()
        _give_back(pool, borrowed, healthy=healthy)


def _retrying(operation):
    """Run an idempotent token operation, once more after a transient failure."""
    try:
        return operation()
    except HSMUnavailable:
        time.sleep(_INIT_BACKOFF_SECONDS)
        return operation()


def health(realm: str | None = None) -> dict:
    """Token presence, login and pool occupancy of this process, for the health endpoint.

    Without ``realm``: the default token, then every other token this process holds a PIN for
    (listed under ``tokens``); a token without a PIN here is not this process's business.
    """
    report = _token_health(get_config(realm))
    if realm is None and _realms:
        tokens = {}
        seen = {report["token_label"]}
        for name, config in sorted(_realms.items()):
            if config.token_label in seen or not config.user_pin:
                continue
            seen.add(config.token_label)
            tokens[name] = other = _token_health(config)
            if other["error"] and not report["error"]:
                report["error"] = f"{name}: {other['error']}"
                report["login_ok"] = False
        report["tokens"] = tokens
    return report


def _token_health(config: HSMConfig) -> dict:
    report = {
        "token_label": config.token_label,
        "token_present": False,
        "login_ok": False,
        "free_sessions": 0,
        "error": None,
    }
    if not config.user_pin:
        report["error"] = f"no PIN for token {config.token_label!r} in this process"
        return report
    try:
        with session(realm=_realm_name(config)) as s, _module_lock:
            report["token_present"] = True
            s.generate_random(64)
            # Searching private objects only succeeds for a logged-in user.
            list(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
            report["login_ok"] = True
    except HSMError as exc:
        report["error"] = str(exc)
    pool = _pools.get(config.token_label)
    if pool is not None and pool.pid == os.getpid():
        report["free_sessions"] = pool.config.pool_size - pool.lent
        report["open_sessions"] = pool.opened
    return report


def _realm_name(config: HSMConfig) -> str | None:
    for name, candidate in _realms.items():
        if candidate == config:
            return name
    return None


# --- token provisioning -----------------------------------------------------------------------


def _is_softhsm(module_path: str) -> bool:
    return "softhsm" in os.path.basename(module_path).lower()


def _token_visible(config: HSMConfig) -> bool:
    with _module_lock:
        lib = _load_library(config, force=True)
        try:
            lib.get_token(token_label=config.token_label)
        except p11_errors.NoSuchToken:
            return False
    return True


def token_visible(config: HSMConfig) -> bool:
    """Whether the token of ``config`` exists (no login needed)."""
    return _token_visible(config)


def token_ensure(config: HSMConfig) -> bool:
    """Make sure the token exists; for SoftHSM create it when missing. True if it was created."""
    if _token_visible(config):
        return False
    if not _is_softhsm(config.module_path):
        raise HSMUnavailable(f"token {config.token_label!r} not found in {config.module_path}")
    if not config.so_pin:
        raise HSMError("creating a SoftHSM token needs the SO PIN")
    lock_path = os.environ.get("SOFTHSM2_CONF", "/tmp/dsign-softhsm2") + ".init.lock"
    with open(lock_path, "a") as lock_file:
        # Two processes starting together must not create two tokens with the same label.
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            if _token_visible(config):
                return False
            result = subprocess.run(
                [
                    "softhsm2-util",
                    "--init-token",
                    "--free",
                    "--label",
                    config.token_label,
                    "--pin",
                    config.user_pin,
                    "--so-pin",
                    config.so_pin,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise HSMError(f"softhsm2-util --init-token failed: {result.stderr.strip()}")
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
    with _state_lock:
        _pools.clear()
    if not _token_visible(config):
        raise HSMUnavailable(f"token {config.token_label!r} created but not visible")
    return True


# --- keys -------------------------------------------------------------------------------------


def _key_id(label: str) -> bytes:
    # Stable per label, so certificates stored later can carry the same CKA_ID.
    return hashlib.sha256(label.encode("utf-8")).digest()[:16]


def _find(s, *, label: str, object_class):
    try:
        return s.get_key(object_class=object_class, label=label)
    except p11_errors.NoSuchKey as exc:
        raise KeyNotFound(f"no {object_class.name.lower()} labelled {label!r} in the token") from exc
    except p11_errors.MultipleObjectsReturned as exc:
        raise HSMError(f"several keys labelled {label!r} in the token") from exc


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


def _private_template(label: str) -> dict:
    return {
        Attribute.TOKEN: True,
        Attribute.PRIVATE: True,
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.SIGN: True,
        Attribute.DECRYPT: False,
        Attribute.UNWRAP: False,
        Attribute.DERIVE: False,
        Attribute.LABEL: label,
        Attribute.ID: _key_id(label),
    }


def key_generate(*, label: str, algorithm: str = "rsa2048") -> keys.PublicKeyInfo:
    """Generate a signing key pair inside the token and return its public half."""
    if algorithm not in KEY_ALGORITHMS:
        raise ValueError(f"algorithm must be one of {KEY_ALGORITHMS}, not {algorithm!r}")
    if key_exists(label=label):
        raise HSMError(f"a key labelled {label!r} already exists")
    _key_forget(label)
    capabilities = MechanismFlag.SIGN | MechanismFlag.VERIFY
    public_template = {
        Attribute.TOKEN: True,
        Attribute.VERIFY: True,
        Attribute.ENCRYPT: False,
    }
    with session(label=label) as s, _module_lock:
        if algorithm in _RSA_BITS:
            public, _ = s.generate_keypair(
                KeyType.RSA,
                _RSA_BITS[algorithm],
                id=_key_id(label),
                label=label,
                store=True,
                capabilities=capabilities,
                public_template=public_template,
                private_template=_private_template(label),
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
    with session(label=label) as s, _module_lock:
        s.create_object(private_attrs)
        s.create_object(public_attrs)
    return public_info


def key_exists(*, label: str) -> bool:
    def _check() -> bool:
        with session(label=label) as s, _module_lock:
            found = list(s.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: label}))
            return bool(found)

    return _retrying(_check)


def key_public(*, label: str) -> keys.PublicKeyInfo:
    def _read() -> keys.PublicKeyInfo:
        with session(label=label) as s, _module_lock:
            return _public_key_info(_find(s, label=label, object_class=ObjectClass.PUBLIC_KEY))

    return _retrying(_read)


def key_delete(*, label: str, config: HSMConfig | None = None) -> None:
    """Destroy both halves of the key pair (in the token of ``config`` when given, e.g. an old
    single token during ``hsm_split``); a missing key is KeyNotFound."""
    _key_forget(label)
    with session(label=label, config=config) as s, _module_lock:
        found = list(s.get_objects({Attribute.LABEL: label}))
        found = [o for o in found if o[Attribute.CLASS] in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)]
        if not found:
            raise KeyNotFound(f"no key labelled {label!r} in the token")
        for obj in found:
            obj.destroy()


def key_attributes(*, label: str) -> dict:
    """The protection attributes of the private key, and whether its secret value can be read."""
    with session(label=label) as s, _module_lock:
        private = _find(s, label=label, object_class=ObjectClass.PRIVATE_KEY)
        report = {
            "key_type": "rsa" if private[Attribute.KEY_TYPE] == KeyType.RSA else "ec",
            "token": private[Attribute.TOKEN],
            "sensitive": private[Attribute.SENSITIVE],
            "extractable": private[Attribute.EXTRACTABLE],
            "always_sensitive": private[Attribute.ALWAYS_SENSITIVE],
            "never_extractable": private[Attribute.NEVER_EXTRACTABLE],
            "sign": private[Attribute.SIGN],
            "id": private[Attribute.ID],
        }
        secret = Attribute.PRIVATE_EXPONENT if report["key_type"] == "rsa" else Attribute.VALUE
        try:
            private[secret]
            report["secret_readable"] = True
        except (p11_errors.AttributeSensitive, p11_errors.AttributeTypeInvalid):
            report["secret_readable"] = False
        return report


# --- signing ----------------------------------------------------------------------------------


def _digest(data: bytes, digest_algorithm: str) -> bytes:
    return hashlib.new(digest_algorithm, data).digest()


def sign_raw(*, label: str, data: bytes, digest_algorithm: str = "sha256") -> bytes:
    """Sign ``data`` with the token key: RSA PKCS#1 v1.5, or ECDSA as a DER-encoded signature."""
    digest_algorithm = digest_algorithm.lower()
    if digest_algorithm not in _RSA_MECHANISMS:
        raise ValueError(f"unsupported digest algorithm {digest_algorithm!r}")

    def _sign() -> bytes:
        with session(label=label) as s, _module_lock:
            private = _find(s, label=label, object_class=ObjectClass.PRIVATE_KEY)
            if private[Attribute.KEY_TYPE] == KeyType.RSA:
                return private.sign(data, mechanism=_RSA_MECHANISMS[digest_algorithm])
            # SoftHSM has no hash-then-ECDSA mechanisms; hashing is not a key operation.
            raw = private.sign(_digest(data, digest_algorithm), mechanism=Mechanism.ECDSA)
            return encode_ecdsa_signature(raw)

    return _retrying(_sign)


# Key type by label, per process. A label names one key pair for its whole life (key_generate and
# key_import refuse an existing label), so the type cannot change under a label; the entry is dropped
# when this process deletes or creates the key. A key deleted by another process is still found
# missing when signing (KeyNotFound from the token), just not before borrowing a session.
_key_kinds: dict[str, str] = {}


def _key_kind(label: str) -> str:
    kind = _key_kinds.get(label)
    if kind is not None:
        return kind

    def _read() -> str:
        with session(label=label) as s, _module_lock:
            private = _find(s, label=label, object_class=ObjectClass.PRIVATE_KEY)
            return "rsa" if private[Attribute.KEY_TYPE] == KeyType.RSA else "ecdsa"

    kind = _key_kinds[label] = _retrying(_read)
    return kind


def _key_forget(label: str) -> None:
    _key_kinds.pop(label, None)


def signature_algorithm_for(label: str, digest_algorithm: str = "sha256") -> str:
    """The asn1crypto SignedDigestAlgorithm name for signatures made by ``sign_raw``."""
    return f"{digest_algorithm.lower()}_{_key_kind(label)}"


class _PooledPKCS11Signer(PKCS11Signer):
    """pyHanko's PKCS#11 signer, with every module call under this process's module lock."""

    def _load_objects(self):
        with _module_lock:
            super()._load_objects()

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run=False) -> bytes:
        if dry_run:
            return await super().async_sign_raw(data, digest_algorithm, dry_run=True)
        await self.ensure_objects_loaded()
        spec = self._select_pkcs11_signing_params(digest_algorithm, sign_kwargs=self.sign_kwargs(data))
        payload = spec.pre_sign_transform(data) if spec.pre_sign_transform else data
        key_handle = self._key_handle

        def _perform() -> bytes:
            with _module_lock:
                signature = key_handle.sign(payload, **spec.sign_kwargs)
            if spec.post_sign_transform is not None:
                signature = spec.post_sign_transform(signature)
            return signature

        return await asyncio.get_running_loop().run_in_executor(None, _perform)


def pyhanko_signer(*, label: str, signing_cert: x509.Certificate, other_certs: list[x509.Certificate]) -> Signer:
    """A pyHanko Signer on the session this thread holds through ``with session():``.

    The signer is valid only while that block is open. ``signer()`` does both steps.
    """
    stack = getattr(_borrowed, "stack", None)
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
        with session(label=label) as s, _module_lock:
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

    with session(label=label) as s, _module_lock:
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
    with session(label=label, config=config) as s, _module_lock:
        key = _secret(s, label)
        try:
            return key.decrypt(body, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad))
        except (p11_errors.EncryptedDataInvalid, p11_errors.EncryptedDataLenRange, p11_errors.FunctionFailed) as exc:
            raise HSMError("sealed data does not open (altered, or sealed for someone else)") from exc


def hmac_sign(*, label: str, data: bytes) -> bytes:
    """HMAC-SHA256 of ``data`` with the token's secret key ``label``."""
    with session(label=label) as s, _module_lock:
        return _secret(s, label).sign(data, mechanism=Mechanism.SHA256_HMAC)


def hmac_verify(*, label: str, data: bytes, mac: bytes) -> bool:
    with session(label=label) as s, _module_lock:
        try:
            return bool(_secret(s, label).verify(data, mac, mechanism=Mechanism.SHA256_HMAC))
        except (p11_errors.SignatureInvalid, p11_errors.SignatureLenRange):
            return False


def random_bytes(*, count: int, realm: str | None = None) -> bytes:
    """Random bytes from the token's generator."""
    with session(realm=realm) as s, _module_lock:
        return s.generate_random(count * 8)


def labels(*, realm: str | None = None, config: HSMConfig | None = None) -> list[str]:
    """Labels of the private and secret keys in a token (by realm, or an explicit configuration)."""
    found: set[str] = set()
    with session(realm=realm, config=config) as s, _module_lock:
        for object_class in (ObjectClass.PRIVATE_KEY, ObjectClass.SECRET_KEY):
            for obj in s.get_objects({Attribute.CLASS: object_class}):
                found.add(obj[Attribute.LABEL])
    return sorted(found)


def secret_key_delete(*, label: str, config: HSMConfig | None = None) -> None:
    """Destroy a secret key (in the token of ``config`` when given)."""
    with session(label=label, config=config) as s, _module_lock:
        _secret(s, label).destroy()

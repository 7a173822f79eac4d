"""The HSM's configuration and realms, the library and its session pool, health.

The process-wide state (pools, locks, the configuration) lives here; the other modules of
``core.hsm`` read the locks through this module, as the fork handler replaces them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pkcs11
from pkcs11 import Attribute, Mechanism, ObjectClass
from pkcs11 import exceptions as p11_errors

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
# Key type by label, per process. A label names one key pair for its whole life (key_generate and
# key_import refuse an existing label), so the type cannot change under a label; the entry is dropped
# when this process deletes or creates the key. A key deleted by another process is still found
# missing when signing (KeyNotFound from the token), just not before borrowing a session.
_key_kinds: dict[str, str] = {}
# Key objects found by label, per session: (id(session), label, object class) -> (session, object).
# Looking a key up (C_FindObjects) costs SoftHSM a pass over every object in the token, several times
# the key operation itself; an object handle stays valid for the session's life. The entry keeps its
# session, so an id is not reused while cached. Dropped on delete, re-initialisation, fork, and when
# the token says a handle is no longer valid (a key deleted by another process).
found_keys: dict[tuple[int, str, int], tuple[object, object]] = {}
FOUND_KEYS_MAX = 1024


def _after_fork_in_child() -> None:
    # The parent's locks may have been held by another thread at fork time, and its sessions
    # belong to the parent's module state: start clean.
    global _state_lock, _available, _module_lock, _borrowed
    _pools.clear()
    found_keys.clear()
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
        found_keys.clear()
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
    if isinstance(exc, p11_errors.KeyHandleInvalid | p11_errors.ObjectHandleInvalid):
        found_keys.clear()  # a cached key was deleted meanwhile (by another process)
        return KeyNotFound(f"the key is no longer in the token: {exc!r}")
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

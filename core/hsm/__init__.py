"""The PKCS#11 token: configuration, a fork-safe session pool, key lifecycle and raw signing.

This package is the only place in dsign that imports ``pkcs11``. Everything else asks it for what it
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

from .key_pairs import decrypt_raw, key_attributes, key_delete, key_exists, key_generate, key_import, key_public
from .pool import (
    KEY_ALGORITHMS,
    HSMConfig,
    HSMError,
    HSMUnavailable,
    KeyNotFound,
    NoPIN,
    configuration,
    configure,
    configure_realms,
    get_config,
    health,
    realm_of,
    realms,
    session,
)
from .provisioning import token_ensure, token_visible
from .secret_keys import (
    hmac_sign,
    hmac_verify,
    labels,
    random_bytes,
    secret_decrypt,
    secret_encrypt,
    secret_key_delete,
    secret_key_ensure,
)
from .signing import pyhanko_signer, sign_raw, signature_algorithm_for, signer

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
    "decrypt_raw",
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
    "secret_key_delete",
]

"""dsign settings: one module, read from the environment.

With no variables at all you get the embedded default (SQLite, django-q2's ORM broker, a SoftHSM2 token
under var/, files under var/, console e-mail). Every production part is switched on by an environment
variable; the README lists them all with their defaults.
"""

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()


def env_secret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (Docker secrets)."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        return Path(path).read_text().strip()
    return os.environ.get(name, default)


PRODUCTION = env.bool("DSIGN_PRODUCTION", default=False)
VAR_DIR = Path(env.str("DSIGN_VAR_DIR", default=str(BASE_DIR / "var")))
# Everything dsign writes (SQLite and its WAL, stored PDFs, the SoftHSM token, audit exports) is readable by
# its own user only: the process umask makes new files 0600 and directories 0700, and var/ is closed.
os.umask(0o077)
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
try:
    VAR_DIR.chmod(0o700)
except OSError:  # not ours (a mounted volume); its owner decides
    pass
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Defaults that are fine on a laptop and refused in production by the system checks (dsign.E001...).
INSECURE_SECRET_KEY = "dsign-embedded-insecure-secret-key-change-me"
INSECURE_HSM_PIN = "dsign-embedded-pin"
INSECURE_HSM_SO_PIN = "dsign-embedded-so-pin"

SECRET_KEY = env_secret("SECRET_KEY", INSECURE_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
# The public base URL of this installation: written into certificates (CRL, OCSP, CA issuers) and e-mails.
BASE_URL = env.str("DSIGN_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
_BASE_HOST = urlsplit(BASE_URL).hostname or "127.0.0.1"
# The base URL's host is always served (a LAN demo sets only DSIGN_BASE_URL and DSIGN_BIND).
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
if _BASE_HOST not in ALLOWED_HOSTS and "*" not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_BASE_HOST)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_email",
    "axes",
    "django_q",
    "dsign",
    "accounts",
    "audit",
    "signing",
    "certificates",
    "workflows",
    "reports",
    "integrations",
    "branding",
    "mailer",
    "office",
]

MIDDLEWARE = [
    "dsign.logsetup.RequestIdMiddleware",
    "dsign.health.HealthMiddleware",  # first: probes come by address, over HTTP, without a session
    "django.middleware.security.SecurityMiddleware",
    "dsign.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "dsign.security.SessionLifetimeMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, so it sees the lockout flag that authentication set anywhere below it.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dsign.urls"
WSGI_APPLICATION = "dsign.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "branding.context_processors.branding",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dsign.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take SQLite's write lock up front, so concurrent writers queue instead of
    # failing half-way with "database is locked"; WAL lets readers proceed meanwhile.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Tests too use a file: an in-memory database cannot take concurrent writers (live-server race tests).
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    # The password may come apart from the URL (Docker secrets: DATABASE_PASSWORD_FILE).
    if env_secret("DATABASE_PASSWORD"):
        DATABASES["default"]["PASSWORD"] = env_secret("DATABASE_PASSWORD")
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Transactional tests restore the seeded rows by re-saving them; audit events refuse UPDATE (a PostgreSQL
# trigger), so the audit tables are left out of that snapshot and simply emptied after such a test.
TEST_NON_SERIALIZED_APPS = ["audit"]
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out account or address before any backend checks a password.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
PASSWORD_MIN_LENGTH = max(12, env.int("PASSWORD_MIN_LENGTH", default=12))
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
     "OPTIONS": {"min_length": PASSWORD_MIN_LENGTH}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.passwords.NoUsernameValidator"},
]  # fmt: skip

# The client address: REMOTE_ADDR, unless that is one of TRUSTED_PROXIES (addresses or CIDR networks);
# then X-Forwarded-For is read from the right, skipping trusted proxies. Used by sign-in lockout and audit.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network ({_exc})")

# Sign-in lockout (django-axes, counters in the database so every gunicorn worker sees them): after
# LOGIN_FAILURE_LIMIT wrong passwords for one account, or from one client address, sign-in is refused
# for LOGIN_LOCKOUT_MINUTES; an admin unlocks earlier (admin action "unlock sign-in").
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=20)
AXES_COOLOFF_TIME = env.int("LOGIN_LOCKOUT_MINUTES", default=15) / 60
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Successful sign-ins are already in the audit log (accounts.login); axes keeps only the failure counters.
AXES_DISABLE_ACCESS_LOG = True
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Sign-in: local accounts always; AD through LDAP when LDAP_SERVER_URI is set; OpenID Connect (Entra ID)
# when OIDC_RP_CLIENT_ID is set; SMS codes through an HTTP gateway when SMS_GATEWAY_URL is set.
# accounts/auth_settings.py turns these variables into the libraries' settings (README lists them).
from accounts.auth_settings import ldap_settings, oidc_settings, sms_settings  # noqa: E402

AUTH_SETTINGS = {**ldap_settings(os.environ), **oidc_settings(os.environ), **sms_settings(os.environ)}
vars().update(AUTH_SETTINGS)
if AUTH_SETTINGS["LDAP_ENABLED"]:
    AUTHENTICATION_BACKENDS.append("accounts.ldap.DirectoryBackend")
if AUTH_SETTINGS["OIDC_ENABLED"]:
    AUTHENTICATION_BACKENDS.append("accounts.oidc.OIDCBackend")
# MFA: a wrong code locks the factor for THROTTLE_FACTOR * 2^(failures-1) seconds (django-otp).
OTP_TOTP_ISSUER = env.str("MFA_ISSUER", default="dsign")
OTP_TOTP_THROTTLE_FACTOR = env.int("MFA_THROTTLE_FACTOR", default=1)
OTP_STATIC_THROTTLE_FACTOR = OTP_TOTP_THROTTLE_FACTOR
OTP_EMAIL_THROTTLE_FACTOR = OTP_TOTP_THROTTLE_FACTOR
OTP_EMAIL_TOKEN_VALIDITY = env.int("MFA_CODE_VALIDITY_SECONDS", default=300)
MFA_CODE_VALIDITY_SECONDS = OTP_EMAIL_TOKEN_VALIDITY

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="th")
LANGUAGES = [("th", "ไทย"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Asia/Bangkok")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
# Served by WhiteNoise from STATIC_ROOT: collectstatic (make setup, the Docker image) writes hashed names and
# gzip/brotli copies, served with a ten-year immutable lifetime; unhashed names get WHITENOISE_MAX_AGE.
# In development without a collected manifest, straight from the app directories (no collectstatic needed).
WHITENOISE_USE_FINDERS = env.bool(
    "STATIC_AUTOREFRESH", default=DEBUG and not (STATIC_ROOT / "staticfiles.json").exists()
)
WHITENOISE_AUTOREFRESH = WHITENOISE_USE_FINDERS
WHITENOISE_MAX_AGE = 0 if WHITENOISE_AUTOREFRESH else env.int("STATIC_MAX_AGE", default=3600)
# Not worth compressing at set-up time: source maps (nobody's browser fetches them), pdf.js's binary CMaps
# and Type 1 fonts (already compact), besides WhiteNoise's own list of compressed formats.
from whitenoise.compress import Compressor  # noqa: E402

WHITENOISE_SKIP_COMPRESS_EXTENSIONS = [*Compressor.SKIP_COMPRESS_EXTENSIONS, "map", "bcmap", "pfb"]
# A name missing from the manifest (no collectstatic yet, e.g. in tests) falls back to the plain name.
WHITENOISE_MANIFEST_STRICT = False
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"

# Document storage: files under var/ unless an S3-compatible bucket is named.
S3_BUCKET = env.str("S3_BUCKET", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "dsign.staticfiles.GzipManifestStaticFilesStorage"},
}
if S3_BUCKET:
    from core.storage import s3_storage_entry

    STORAGES["default"] = s3_storage_entry(
        bucket=S3_BUCKET,
        endpoint_url=env.str("S3_ENDPOINT_URL", default="") or None,
        access_key=env_secret("S3_ACCESS_KEY") or None,
        secret_key=env_secret("S3_SECRET_KEY") or None,
        region=env.str("S3_REGION", default="") or None,
        addressing_style=env.str("S3_ADDRESSING_STYLE", default="") or None,
    )

# E-mail: console by default; EMAIL_URL (smtp://user:pass@host:587, submission://…) for a real server.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="dsign <dsign@localhost>")
# Seconds an SMTP connection may hang before the sending task gives up (and the ledger retries later).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# The PKCS#11 token. The default is a SoftHSM2 token kept under var/softhsm/.
SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PKCS11_MODULE = env.str("PKCS11_MODULE", default=SOFTHSM_MODULE)
# Keys apart (issue 16). "split": the CA keys, the services' keys (OCSP responder, TSA) and the users'
# signing keys live in three tokens with three PINs; the web tier holds no users' PIN, only the signer
# process does. "single": the pre-split layout, everything in HSM_TOKEN_LABEL with HSM_PIN
# (`manage.py hsm_split` moves such an installation to the split layout).
HSM_LAYOUT = env.str("HSM_LAYOUT", default="split")
HSM_TOKEN_LABEL = env.str("HSM_TOKEN_LABEL", default="dsign")
HSM_PIN = env_secret("HSM_PIN", INSECURE_HSM_PIN)
HSM_CA_TOKEN_LABEL = env.str("HSM_CA_TOKEN_LABEL", default="dsign-ca")
HSM_CA_PIN = env_secret("HSM_CA_PIN", INSECURE_HSM_PIN)
# Empty: the root CA key stays in the CA token. Set when the root was made by `ca_ceremony` in its
# own token; the running system then needs no root PIN at all (HSM_ROOT_PIN empty).
HSM_ROOT_TOKEN_LABEL = env.str("HSM_ROOT_TOKEN_LABEL", default="")
HSM_ROOT_PIN = env_secret("HSM_ROOT_PIN", "")
HSM_SERVICES_TOKEN_LABEL = env.str("HSM_SERVICES_TOKEN_LABEL", default="dsign-services")
HSM_SERVICES_PIN = env_secret("HSM_SERVICES_PIN", INSECURE_HSM_PIN)
HSM_USERS_TOKEN_LABEL = env.str("HSM_USERS_TOKEN_LABEL", default="dsign-users")
# No default on purpose: only the signer process is given it (scripts/serve.sh reads the file that
# `hsm_init` wrote for the embedded SoftHSM default, HSM_USERS_PIN_DEFAULT_FILE).
HSM_USERS_PIN = env_secret("HSM_USERS_PIN", "")
HSM_USERS_PIN_DEFAULT_FILE = VAR_DIR / "secrets" / "hsm-users.pin"
# The signer process: its socket (workers and the web tier call it) and its replay ledger.
SIGNER_SOCKET = Path(env.str("SIGNER_SOCKET", default=str(VAR_DIR / "signer.sock")))
SIGNER_STATE_DIR = Path(env.str("SIGNER_STATE_DIR", default=str(VAR_DIR / "signer")))
SIGNER_TIMEOUT = env.float("SIGNER_TIMEOUT", default=60.0)
# Life of signature activation data before its first use; once used, a job's retries may present
# it again until the job's signature is confirmed, for at most SIGNATURE_ACTIVATION_RETRY_SECONDS.
SIGNATURE_ACTIVATION_SECONDS = env.int("SIGNATURE_ACTIVATION_SECONDS", default=300)
SIGNATURE_ACTIVATION_RETRY_SECONDS = env.int("SIGNATURE_ACTIVATION_RETRY_SECONDS", default=86400)
HSM_SO_PIN = env_secret("HSM_SO_PIN", INSECURE_HSM_SO_PIN)
HSM_POOL_SIZE = env.int("HSM_POOL_SIZE", default=4)
SOFTHSM2_CONF = Path(env.str("SOFTHSM2_CONF", default=str(VAR_DIR / "softhsm2.conf")))
if PKCS11_MODULE == SOFTHSM_MODULE:
    os.environ["SOFTHSM2_CONF"] = str(SOFTHSM2_CONF)

# PKI: algorithms and lifetimes of the internal CA and its certificates.
SIGNING_KEY_ALGORITHM = env.str("SIGNING_KEY_ALGORITHM", default="rsa2048")
CERTIFICATE_VALIDITY_DAYS = env.int("CERTIFICATE_VALIDITY_DAYS", default=730)
CA_ORGANIZATION = env.str("CA_ORGANIZATION", default="dsign Demo Organisation")
# Branding of pages and e-mails when nothing is set in admin: the organisation's name and a logo file.
ORGANIZATION_NAME = env.str("ORGANIZATION_NAME", default=CA_ORGANIZATION)
ORGANIZATION_LOGO = env.str("ORGANIZATION_LOGO", default="")
# RFC 3161 timestamping: the app's own TSA (key in the token) unless TSA_URL names another (e.g. ETDA's).
TSA_URL = env.str("TSA_URL", default=f"{BASE_URL}/pki/tsa")
TSA_USERNAME = env.str("TSA_USERNAME", default="")
TSA_PASSWORD = env_secret("TSA_PASSWORD")
# The certificate RFC 3161 tokens must chain to (PEM/DER file: the TSA's certificate or a CA above it).
# Empty: the internal TSA's (var/pki/tsa.pem, written by ca_init). Audit anchors are checked against it.
TSA_CERTIFICATE = env.str("TSA_CERTIFICATE", default="")
INTERNAL_TSA_CERTIFICATE = VAR_DIR / "pki" / "tsa.pem"  # written by ca_init, never overwritten
# Who the internal TSA (/pki/tsa) answers: these networks (dsign itself on loopback by default), a client
# sending TSA_USERNAME/TSA_PASSWORD, and signed-in users if TSA_ALLOW_AUTHENTICATED; at most
# TSA_RATE_PER_MINUTE requests a minute per client address.
TSA_ALLOWED_NETWORKS = env.list("TSA_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"])
TSA_ALLOW_AUTHENTICATED = env.bool("TSA_ALLOW_AUTHENTICATED", default=False)
TSA_RATE_PER_MINUTE = env.int("TSA_RATE_PER_MINUTE", default=600)
EXPIRY_WARNING_DAYS = env.list("EXPIRY_WARNING_DAYS", cast=int, default=[60, 30, 7, 1, 0])

# Signing, documents, MFA.
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=25 * 1024 * 1024)
# Verifications running at once (uploads to /api/v1/verify/ and the verify page); over it: 429.
VERIFY_MAX_CONCURRENT = env.int("VERIFY_MAX_CONCURRENT", default=4)
VERIFY_MAX_CONCURRENT_PER_USER = env.int("VERIFY_MAX_CONCURRENT_PER_USER", default=2)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_UPLOAD_BYTES + 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# A user without any MFA device may enrol the first one only this long after signing in with a password
# (or later with a one-time enrolment code an admin has sent them).
MFA_FIRST_ENROLMENT_WINDOW_SECONDS = env.int("MFA_FIRST_ENROLMENT_WINDOW_SECONDS", default=600)
MFA_ENROLMENT_CODE_HOURS = env.int("MFA_ENROLMENT_CODE_HOURS", default=72)


# Passkeys (WebAuthn). The RP ID is a domain (never an IP address): the base URL's host, or "localhost"
# when that is an address (open the site as http://localhost:8000 to use passkeys on a laptop). Each origin
# a browser may show the site under is listed; an assertion from any other origin is refused.
def _webauthn_defaults() -> tuple[str, list[str]]:
    try:
        ipaddress.ip_address(_BASE_HOST.strip("[]"))
    except ValueError:
        return _BASE_HOST, [BASE_URL]
    port = urlsplit(BASE_URL).port
    return "localhost", [f"{urlsplit(BASE_URL).scheme}://localhost" + (f":{port}" if port else "")]


_WEBAUTHN_RP_ID, _WEBAUTHN_ORIGINS = _webauthn_defaults()
WEBAUTHN_RP_ID = env.str("WEBAUTHN_RP_ID", default=_WEBAUTHN_RP_ID)
WEBAUTHN_ORIGINS = env.list("WEBAUTHN_ORIGINS", default=_WEBAUTHN_ORIGINS)
WEBAUTHN_RP_NAME = env.str("WEBAUTHN_RP_NAME", default="dsign")
# How long a passkey challenge (registration, approval, factor change) can be answered, and used once.
WEBAUTHN_CHALLENGE_SECONDS = env.int("WEBAUTHN_CHALLENGE_SECONDS", default=300)
SIGNATURE_DATE_ERA = env.str("SIGNATURE_DATE_ERA", default="BE")
AUDIT_RETENTION_DAYS = max(90, env.int("AUDIT_RETENTION_DAYS", default=3650))
# Where each audit anchor is also written, outside the database (comma-separated): "storage" (the file
# storage or S3 bucket, under audit-anchors/), "file:/path/anchors.jsonl", "syslog:" or "syslog://host:514".
AUDIT_ANCHOR_EXPORT = env.str("AUDIT_ANCHOR_EXPORT", default="storage")
OTP_EMAIL_SENDER = DEFAULT_FROM_EMAIL
OTP_EMAIL_SUBJECT = "dsign: รหัสยืนยันตัวตน / verification code"

# Background work: django-q2 on Redis when REDIS_URL is set, otherwise on the database (ORM broker).
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL and env_secret("REDIS_PASSWORD"):
    # Docker secrets: REDIS_PASSWORD_FILE, put into the URL (redis://:password@host:port/db).
    from urllib.parse import quote

    _redis = urlsplit(REDIS_URL)
    REDIS_URL = _redis._replace(
        netloc=f":{quote(env_secret('REDIS_PASSWORD'), safe='')}@{_redis.hostname}"
        + (f":{_redis.port}" if _redis.port else "")
    ).geturl()
Q_CLUSTER = {
    "name": "dsign",
    "workers": env.int("Q_WORKERS", default=2),
    # A task that outlives `timeout` is killed; one not acknowledged within `retry` is handed out again,
    # so retry must exceed timeout (django-q2's docs) and every task is idempotent.
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_RETRY", default=180),
    "max_attempts": 0,
    "ack_failures": True,
    "catch_up": False,
    # Successful results are not stored: every signing job keeps its own ledger (SigningJob,
    # SigningAttempt, audit event), and with a positive limit django-q2 locks and loads the whole
    # success table on every task to prune it. Failures are still stored.
    "save_limit": env.int("Q_SAVE_LIMIT", default=-1),
    "poll": 0.2,
    "sync": env.bool("Q_SYNC", default=False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# /readyz: a worker must have run the heartbeat schedule (every minute) within this many seconds.
HEALTH_WORKER_MAX_AGE = env.int("HEALTH_WORKER_MAX_AGE", default=180)

# Shared counters (API throttles, cached lookups): Redis when REDIS_URL is set, otherwise a database
# table, so every worker process counts against the same limit (never per-process memory).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "dsign"}}  # fmt: skip
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "dsign_cache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "dsign.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "otp": "10/min",
        "anon": env.str("API_THROTTLE_ANON", default="60/min"),
        "user": env.str("API_THROTTLE_USER", default="100/s"),
        # the public verification page (/v/<token>/), per client address: views and uploaded copies
        "public_verify": env.str("PUBLIC_VERIFY_THROTTLE", default="30/min"),
        "public_verify_upload": env.str("PUBLIC_VERIFY_UPLOAD_THROTTLE", default="5/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "dsign API",
    "DESCRIPTION": (
        "Route documents for tiered approval and sign them with PAdES signatures.\n\n"
        "**Authentication.** `Authorization: Token KEY` with a personal token from `manage.py drf_create_token USER` "
        "(hashed, expiring, revocable: `GET/DELETE /api/v1/me/tokens/`), or `Authorization: Api-Key KEY` with "
        "`X-On-Behalf-Of: USERNAME` for an application client, which acts only for the users and org units listed "
        "on it.\n\n"
        "**Webhooks** follow Standard Webhooks: `webhook-id` (the event id, the same on retries), "
        "`webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of "
        '"<webhook-id>.<webhook-timestamp>.<body>">` keyed with the subscription secret (base64-decoded when it '
        "is `whsec_<base64>`). Reject timestamps older than 5 minutes. A client receives only events about "
        "documents of the users it may act for."
    ),
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "integrations.schema.add_error_responses",
    ],
}

# Personal API tokens (manage.py drf_create_token USER) expire after this many days.
API_TOKEN_LIFETIME_DAYS = env.int("API_TOKEN_LIFETIME_DAYS", default=90)

# Webhook receivers inside the network (hosts, comma-separated) that deliveries may call although they
# resolve to loopback, private or link-local addresses; set by the operator, not in the web admin.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])

# Sessions and TLS: secure cookies and HSTS in production (TLS is terminated in front of the app).
# A session ends after SESSION_IDLE_SECONDS without a request a person made (polling does not count) and
# after SESSION_ABSOLUTE_SECONDS whatever happens (dsign.security.SessionLifetimeMiddleware).
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_ABSOLUTE_SECONDS = env.int("SESSION_ABSOLUTE_SECONDS", default=10 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_SECONDS
SESSION_SAVE_EVERY_REQUEST = False
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"

# DEBUG error pages and error e-mails hide PINs, tokens and codes too (Django hides KEY/SECRET/PASS only).
DEFAULT_EXCEPTION_REPORTER_FILTER = "dsign.security.SecretsReporterFilter"

# Time (UTC), level, logger and request id on every line; LOG_FORMAT=json for log shippers.
from dsign.logsetup import logging_config  # noqa: E402

LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = logging_config(level=env.str("LOG_LEVEL", default="INFO"), fmt=LOG_FORMAT)

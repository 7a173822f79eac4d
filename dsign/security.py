"""HTTP hardening of the whole site: the Content-Security-Policy, session lifetimes, and error reports
that never show PINs, tokens or codes."""

from __future__ import annotations

import re
import time

from django.conf import settings
from django.contrib.auth import logout
from django.views.debug import SafeExceptionReporterFilter

# --- Content-Security-Policy ---------------------------------------------------------------------------
# Office pages load only their own scripts (no inline script or handler), pdf.js runs its module worker
# from our origin and paints into canvases; images may be data:/blob: URLs pdf.js makes.
CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data: blob:",
    "font-src": "'self' data:",
    "worker-src": "'self' blob:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
}
# Swagger UI's page carries one inline <style> block (its script is served apart, see dsign/urls.py).
CSP_RELAXED_STYLE_PATHS = ("/api/docs/",)


def content_security_policy(path: str) -> str:
    policy = dict(CSP)
    if path.startswith(CSP_RELAXED_STYLE_PATHS):
        policy["style-src"] = "'self' 'unsafe-inline'"
    return "; ".join(f"{name} {value}" for name, value in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request.path)
        return response


# --- session lifetime ----------------------------------------------------------------------------------
STARTED, LAST_ACTIVE = "_dsign_started", "_dsign_last_active"
# Activity is written at most this often, so an active page does not save its session on every request.
ACTIVITY_RESOLUTION_SECONDS = 30


def session_started(sender, request, user, **kwargs) -> None:
    """user_logged_in: the absolute lifetime counts from this sign-in (a re-login starts it again)."""
    now = int(time.time())
    request.session[STARTED] = now
    request.session[LAST_ACTIVE] = now


class SessionLifetimeMiddleware:
    """Idle and absolute session limits. Requests to `core.sessions.passive` views (polling) neither
    count as activity nor save the session, so a page left open does not keep its session alive."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            now = int(time.time())
            started = request.session.setdefault(STARTED, now)
            last_active = request.session.setdefault(LAST_ACTIVE, now)
            if now - started > settings.SESSION_ABSOLUTE_SECONDS or now - last_active > settings.SESSION_IDLE_SECONDS:
                logout(request)
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if getattr(view_func, "session_passive", False):
            return None
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is None or user is None or not user.is_authenticated:
            return None
        now = int(time.time())
        if now - session.get(LAST_ACTIVE, 0) >= ACTIVITY_RESOLUTION_SECONDS:
            session[LAST_ACTIVE] = now
        return None


# --- error reports -------------------------------------------------------------------------------------


class SecretsReporterFilter(SafeExceptionReporterFilter):
    """Django hides settings named like API/KEY/SECRET/PASS/TOKEN; this also hides PINs, one-time codes
    and sessions, masks POST fields and frame variables with such names, and any value that contains
    one of the configured secrets (an HSM config object, a URL with a password)."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|PIN|OTP|SESSION|CREDENTIAL|AUTHORIZATION|DATABASE_URL",
        flags=re.IGNORECASE,
    )
    hidden_names = re.compile("pin|otp|code|token|pass|secret|key|authorization|cookie", flags=re.IGNORECASE)

    @staticmethod
    def _secret_values() -> list[str]:
        names = ("HSM_PIN", "HSM_SO_PIN", "SECRET_KEY", "TSA_PASSWORD", "EMAIL_HOST_PASSWORD")
        return [value for value in (str(getattr(settings, name, "") or "") for name in names) if len(value) >= 4]

    def _contains_secret(self, value) -> bool:
        try:
            text = repr(value)
        except Exception:  # a repr that fails shows nothing anyway
            return False
        return any(secret in text for secret in self._secret_values())

    def cleanse_setting(self, key, value):
        cleansed = super().cleanse_setting(key, value)
        if cleansed is value and isinstance(value, str) and self._contains_secret(value):
            return self.cleansed_substitute
        return cleansed

    def get_post_parameters(self, request):
        if request is None:
            return {}
        cleansed = super().get_post_parameters(request).copy()
        for name in list(cleansed):
            if self.hidden_names.search(name) and name != "csrfmiddlewaretoken":
                cleansed[name] = self.cleansed_substitute
        return cleansed

    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [
            (name, self.cleansed_substitute)
            if self.hidden_names.search(str(name)) or self._contains_secret(value)
            else (name, value)
            for name, value in variables
        ]

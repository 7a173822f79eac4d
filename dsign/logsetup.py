"""Log lines with time, level, logger and request id; JSON Lines for log shippers with LOG_FORMAT=json.

Used by the settings (LOGGING) and by gunicorn (dsign/gunicorn_conf.py), so application, worker and
access lines look alike. The request id comes from RequestIdMiddleware (an incoming X-Request-ID from
the proxy is kept when it looks like one; otherwise a new one), set when Django's request_started
signal fires, and is sent back in X-Request-ID, which the access log prints. No Django imports:
gunicorn loads this before Django exists.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="-")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Libraries whose INFO lines name signers (subject names, e-mail addresses) stay at WARNING.
QUIET_LIBRARIES = ("pyhanko", "pyhanko_certvalidator", "certomancer", "pikepdf", "fontTools", "weasyprint", "axes")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class UTCFormatter(logging.Formatter):
    converter = time.gmtime
    default_msec_format = "%s.%03dZ"
    default_time_format = "%Y-%m-%dT%H:%M:%S"


def logging_config(*, level: str = "INFO", fmt: str = "text") -> dict:
    """A dictConfig for Django's LOGGING and gunicorn's logconfig_dict."""
    formatter = {"()": JsonFormatter} if fmt == "json" else {"()": UTCFormatter, "format": TEXT_FORMAT}
    console = {"class": "logging.StreamHandler", "formatter": "dsign", "filters": ["request_id"]}
    loggers = {name: {"level": "WARNING"} for name in QUIET_LIBRARIES}
    loggers["django.db.backends"] = {"level": "WARNING"}
    for name in ("gunicorn.error", "gunicorn.access"):
        loggers[name] = {"level": "INFO", "handlers": ["console"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"dsign": formatter},
        "handlers": {"console": console},
        "root": {"handlers": ["console"], "level": level},
        "loggers": loggers,
    }


def new_request_id(incoming: str | None) -> str:
    if incoming and _INCOMING_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def on_request_started(sender=None, environ=None, **kwargs) -> None:
    """Django's request_started signal: the id is set before any middleware, so even the "Not Found" line
    Django logs after the middleware chain returned carries it."""
    request_id.set(new_request_id((environ or {}).get("HTTP_X_REQUEST_ID")))


def on_request_finished(sender=None, **kwargs) -> None:
    request_id.set("-")


class RequestIdMiddleware:
    """Sends the request's id back in X-Request-ID (for the access log and the client's support call)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request_id.get()
        if rid == "-":
            rid = new_request_id(request.META.get("HTTP_X_REQUEST_ID"))
            request_id.set(rid)
        request.request_id = rid
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response

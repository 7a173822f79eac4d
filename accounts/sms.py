"""Sending SMS: one function, two backends (console for development, an HTTP gateway for production).

Thai SMS providers differ only in URL, body and auth header, so the HTTP backend is configured by a URL, a
body template with `{phone}`, `{text}` and `{sender}` placeholders, and one raw `Name: value` auth header.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import requests

from core.http import http_status_transient

logger = logging.getLogger(__name__)


class SMSError(Exception):
    """The gateway refused or could not be reached. `permanent` means retrying will not help."""

    def __init__(self, message: str, *, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class GatewayConfig:
    backend: str = "console"
    url: str = ""
    method: str = "POST"
    body_template: str = '{"to": "{phone}", "message": "{text}"}'
    content_type: str = "application/json"
    auth_header: str = ""
    timeout: float = 10.0
    sender: str = "dsign"


def config_from_settings() -> GatewayConfig:
    from django.conf import settings

    return GatewayConfig(
        backend=settings.SMS_BACKEND,
        url=settings.SMS_GATEWAY_URL,
        method=settings.SMS_GATEWAY_METHOD,
        body_template=settings.SMS_GATEWAY_BODY,
        content_type=settings.SMS_GATEWAY_CONTENT_TYPE,
        auth_header=settings.SMS_GATEWAY_AUTH_HEADER,
        timeout=settings.SMS_GATEWAY_TIMEOUT,
        sender=settings.SMS_SENDER,
    )


def render_body(*, template: str, content_type: str, phone: str, text: str, sender: str) -> str:
    """Fill the body template; values are JSON-escaped for JSON bodies so Thai text and quotes survive."""
    if "json" in content_type:
        values = {k: json.dumps(v, ensure_ascii=False)[1:-1] for k, v in (("phone", phone), ("text", text))}
        values["sender"] = json.dumps(sender, ensure_ascii=False)[1:-1]
    else:
        from urllib.parse import quote_plus

        values = {"phone": quote_plus(phone), "text": quote_plus(text), "sender": quote_plus(sender)}
    # str.format would trip over the JSON braces, so only the three placeholders are replaced.
    body = template
    for key, value in values.items():
        body = body.replace("{" + key + "}", value)
    return body


def send_sms(*, phone: str, text: str, config: GatewayConfig | None = None) -> None:
    """Send one SMS; raise SMSError when the gateway does not accept it."""
    config = config or config_from_settings()
    if not phone:
        raise SMSError("No mobile number is set for this SMS device.", permanent=True)
    if config.backend == "console":
        logger.warning("SMS to %s: %s", phone, text)
        print(f"[sms] to {phone}: {text}")  # noqa: T201 - the console backend's whole purpose
        return
    if config.backend != "http" or not config.url:
        raise SMSError(f"SMS backend {config.backend!r} is not configured.", permanent=True)
    headers = {"Content-Type": f"{config.content_type}; charset=utf-8"}
    if config.auth_header:
        name, _, value = config.auth_header.partition(":")
        headers[name.strip()] = value.strip()
    body = render_body(
        template=config.body_template,
        content_type=config.content_type,
        phone=phone,
        text=text,
        sender=config.sender,
    )
    try:
        response = requests.request(
            config.method, config.url, data=body.encode(), headers=headers, timeout=config.timeout
        )
    except requests.RequestException as exc:
        raise SMSError(f"The SMS gateway cannot be reached: {exc.__class__.__name__}", permanent=False)
    if response.status_code >= 300:
        raise SMSError(
            f"The SMS gateway answered {response.status_code}.",
            permanent=400 <= response.status_code < 500 and not http_status_transient(response.status_code),
        )

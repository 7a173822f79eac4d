"""API-wide conventions: every error is JSON with a `detail` message, a machine `code` and a 4xx status.

Services refuse with a `core.errors.DomainError`; `exception_handler` is the one place that turns it into
a response, so API views call services without catching anything.
"""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError


def _flatten(detail) -> str:
    if isinstance(detail, dict):
        parts = []
        for key, value in detail.items():
            text = _flatten(value)
            parts.append(text if key in ("detail", "non_field_errors") else f"{key}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_flatten(item) for item in detail)
    return str(detail)


def domain_error_response(exc: DomainError) -> Response:
    return Response({"detail": exc.message, "code": exc.code}, status=exc.status)


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(detail=str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
    if not (isinstance(data, dict) and set(data) == {"detail"}):
        response.data = {"detail": _flatten(data), "errors": data}
    response.data["code"] = code if isinstance(code, str) else getattr(exc, "default_code", "invalid")
    return response

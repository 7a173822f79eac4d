"""The REST API's common parts: error shapes, pagination, the base views and helpers."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.pagination import BasePagination, LimitOffsetPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from integrations.auth import ApiKeyAuthentication, ApplicationScopes

from .. import selectors
from ..models import Document
from ..serializers import (
    MAX_ID,
)

ERROR = inline_serializer(
    "Error", {"detail": serializers.CharField(), "code": serializers.CharField(help_text="stable machine code")}
)

_ERROR_TEXT = {
    400: ("The request is invalid.", "title: This field is required."),
    401: ("Not authenticated.", "Authentication credentials were not provided."),
    403: ("Not allowed.", "It is not your turn yet: an earlier tier has not finished."),
    404: ("Not found, or not visible to you.", "Not found."),
    409: ("Conflicts with the current state.", "You have already decided on this document."),
    413: ("The upload is too large.", "The file is larger than 25 MB."),
    422: (
        "Idempotency-Key reused with a different request.",
        "This Idempotency-Key was already used with a different request; use a new key.",
    ),
    429: ("Too many requests, or MFA locked after wrong codes.", "Request was throttled."),
}


def errors(*codes: int) -> dict:
    """Error responses for `extend_schema`: always 401 and 429, plus `codes`, each with an example."""
    out = {}
    for code in sorted({401, 429, *codes}):
        description, example = _ERROR_TEXT[code]
        out[code] = OpenApiResponse(
            ERROR, description=description, examples=[OpenApiExample(f"{code}", value={"detail": example})]
        )
    return out


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Send the same key to retry safely: the first successful response is replayed for 24 hours; the "
        "same key with a different body gets 422, and while the first request runs, 409."
    ),
)


class Pagination(LimitOffsetPagination):
    """Limit/offset pages whose `count` stops at COUNT_CAP: counting every row of a large list costs
    more than the page itself, and nobody pages to the ten-thousandth document."""

    default_limit = 50
    max_limit = 200
    COUNT_CAP = 10_000

    def get_count(self, queryset) -> int:
        return queryset.order_by().values("pk")[: self.COUNT_CAP].count()

    def get_offset(self, request) -> int:
        # A huge offset would overflow the database's integer; nothing lives that far anyway.
        return min(super().get_offset(request), 10**9)


class KeysetPagination(BasePagination):
    """Pages of a list read in index order: `{"next": URL or null, "results": [...]}`, no count.

    `next` carries a signed `cursor` (the sort values of the last row); a cursor that was altered, or given
    out for another list or person, is refused with 400 `invalid_cursor`. `limit` as before (default 50,
    at most 200); `offset` is no longer read (a deep offset scans every row before it)."""

    default_limit = 50
    max_limit = 200

    def limit(self, request) -> int:
        raw = request.query_params.get("limit", "")
        return min(max(int(raw), 1), self.max_limit) if raw.isdigit() else self.default_limit

    def cursor(self, request) -> str | None:
        return request.query_params.get("cursor") or None

    def response(self, request, results: list, following: str | None) -> Response:
        link = None
        if following is not None:
            link = replace_query_param(request.build_absolute_uri(), "cursor", following)
        return Response({"next": link, "results": results})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "the next page (null on the last one); follow it as it is",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "where the page starts: take it from `next`, never build it",
                "schema": {"type": "string"},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"rows per page (default {self.default_limit}, at most {self.max_limit})",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_limit},
            },
        ]


class ApiView(APIView):
    authentication_classes = [ApiKeyAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    permission_classes = [IsAuthenticated, ApplicationScopes]
    throttle_classes = [AnonRateThrottle, UserRateThrottle]
    application_scopes: dict[str, str] = {}


class ListView(ApiView, generics.ListAPIView):
    pagination_class = Pagination


class KeysetListView(ApiView, generics.GenericAPIView):
    """A list answered by a selector's keyset page (see KeysetPagination)."""

    pagination_class = KeysetPagination

    def page_response(self, request, selector, **arguments) -> Response:
        rows, following = selector(
            cursor=self.paginator.cursor(request), size=self.paginator.limit(request), **arguments
        )
        data = self.get_serializer(rows, many=True).data
        return self.paginator.response(request, data, following)


# --- helpers -------------------------------------------------------------------------------------------


def _first_error(errors) -> str:
    for field, messages in errors.items():
        if isinstance(messages, dict):
            return f"{field}: {_first_error(messages)}"
        return f"{field}: {messages[0]}"
    return "Invalid input."


def _form(serializer_class, request):
    """The validated data, or a 400 Response saying what is wrong."""
    if not isinstance(request.data, dict):
        return None, Response({"detail": _("The body must be a JSON object or a form."), "code": "invalid"}, status=400)
    form = serializer_class(data=request.data)
    if not form.is_valid():
        return None, Response({"detail": _first_error(form.errors), "code": "invalid"}, status=400)
    return form.validated_data, None


def _too_large() -> Response:
    limit = settings.MAX_UPLOAD_BYTES // (1024 * 1024)
    return Response(
        {"detail": _("The file is larger than %(mb)d MB.") % {"mb": limit}, "code": "too_large"}, status=413
    )


def _batch_versions(raw: dict) -> dict[int, str]:
    return {int(key): value for key, value in raw.items() if str(key).isdigit()}


def _visible(request, pk: int) -> Document:
    document = selectors.document_detail(user=request.user, document_id=pk) if 0 < pk <= MAX_ID else None
    if document is None:
        raise Http404
    return document

"""REST API of documents, workflow templates, inboxes and batch signing: thin views around services.

Paths and JSON shapes here are public (DESIGN.md): extend them, never change them. Every error is JSON
`{"detail": ..., "code": ...}` with a 4xx status (refusals of services are mapped by dsign.api). People
authenticate with a token or a session; applications with an API key acting for a user, limited to the
scopes in `application_scopes` (integrations.auth) — they can read and create documents but never
approve, reject or sign.
"""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import generics, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle
from rest_framework.views import APIView

import audit
from integrations.auth import ApiKeyAuthentication, ApplicationScopes
from integrations.idempotency import idempotent
from signing.models import SigningBatch
from signing.services import signing_batch_progress

from . import selectors, services
from .models import (
    Assignment,
    Document,
    DocumentStatus,
    DocumentVersion,
    TemplateTier,
    WorkflowTemplate,
)
from .serializers import (
    DOCUMENT_EXAMPLE,
    MAX_ID,
    ApproveIn,
    BatchCreatedOut,
    BatchIn,
    BatchProgressOut,
    BatchRefusedOut,
    DecisionIn,
    DocumentCreateIn,
    DocumentDetailOut,
    DocumentOut,
    InboxItemOut,
    VersionOut,
    WorkflowOut,
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


class ApiView(APIView):
    authentication_classes = [ApiKeyAuthentication, *api_settings.DEFAULT_AUTHENTICATION_CLASSES]
    permission_classes = [IsAuthenticated, ApplicationScopes]
    throttle_classes = [AnonRateThrottle, UserRateThrottle]
    application_scopes: dict[str, str] = {}


class ListView(ApiView, generics.ListAPIView):
    pagination_class = Pagination


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
        return None, Response({"detail": "The body must be a JSON object or a form.", "code": "invalid"}, status=400)
    form = serializer_class(data=request.data)
    if not form.is_valid():
        return None, Response({"detail": _first_error(form.errors), "code": "invalid"}, status=400)
    return form.validated_data, None


def _batch_versions(raw: dict) -> dict[int, str]:
    return {int(key): value for key, value in raw.items() if str(key).isdigit()}


def _visible(request, pk: int) -> Document:
    document = selectors.document_detail(user=request.user, document_id=pk) if 0 < pk <= MAX_ID else None
    if document is None:
        raise Http404
    return document


def _documents_filtered(*, user, status_filter: str, role: str, q: str):
    qs = selectors.document_list(user=user, status=status_filter or None)
    if role == "requester":
        qs = qs.filter(requester=user)
    elif role == "signer":
        qs = qs.filter(pk__in=Assignment.objects.filter(Q(signer=user) | Q(decided_by=user)).values("document_id"))
    if q:
        qs = qs.filter(title__icontains=q)
    return qs


# --- views ---------------------------------------------------------------------------------------------


class WorkflowList(ListView):
    serializer_class = WorkflowOut
    application_scopes = {"GET": "workflows:read"}

    def get_queryset(self):
        tiers = Prefetch("tiers", queryset=TemplateTier.objects.order_by("order").prefetch_related("signers"))
        return WorkflowTemplate.objects.filter(active=True).prefetch_related(tiers).order_by("code")

    @extend_schema(
        summary="Workflow templates a document can be routed with",
        responses={200: WorkflowOut(many=True), **errors()},
        examples=[
            OpenApiExample(
                "memo-2-tier",
                value={
                    "code": "memo-2-tier",
                    "name": "บันทึกข้อความ 2 ขั้น",
                    "document_type": "memo",
                    "pades_level": "B-LTA",
                    "allow_multiple_seats": False,
                    "tiers": [
                        {
                            "order": 1,
                            "name": "หัวหน้างาน",
                            "quorum": 2,
                            "signers": ["head1", "head2", "head3"],
                            "rule_position": "",
                            "due_hours": 72,
                        },
                        {
                            "order": 2,
                            "name": "ผู้อำนวยการ",
                            "quorum": 1,
                            "signers": ["director"],
                            "rule_position": "",
                            "due_hours": 72,
                        },
                    ],
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DocumentListCreate(ListView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    serializer_class = DocumentOut
    application_scopes = {"GET": "documents:read", "POST": "documents:create"}

    _queryset = None

    def get_queryset(self):
        return self._queryset if self._queryset is not None else Document.objects.none()

    @extend_schema(
        summary="Documents you requested, sign, or may see",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=DocumentStatus.values, description="document status"),
            OpenApiParameter(
                "role",
                OpenApiTypes.STR,
                enum=["requester", "signer"],
                description="only documents you requested, or only those you hold a seat in",
            ),
            OpenApiParameter("q", OpenApiTypes.STR, description="words in the title"),
        ],
        responses={200: DocumentOut(many=True), **errors(400)},
        examples=[DOCUMENT_EXAMPLE],
    )
    def get(self, request, *args, **kwargs):
        params = request.query_params
        status_filter, role = params.get("status", ""), params.get("role", "")
        if status_filter and status_filter not in DocumentStatus.values:
            return Response(
                {"detail": f"status must be one of {', '.join(DocumentStatus.values)}.", "code": "invalid"}, status=400
            )
        if role and role not in ("requester", "signer"):
            return Response({"detail": "role must be requester or signer.", "code": "invalid"}, status=400)
        q = params.get("q", "").replace("\x00", "").strip()[:200]
        self._queryset = _documents_filtered(user=request.user, status_filter=status_filter, role=role, q=q)
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Upload a PDF and start its route",
        request={"multipart/form-data": DocumentCreateIn},
        parameters=[IDEMPOTENCY_KEY],
        responses={201: DocumentDetailOut, **errors(400, 403, 409, 413, 422)},
        examples=[DOCUMENT_EXAMPLE],
    )
    @idempotent
    def post(self, request):
        form, refusal = _form(DocumentCreateIn, request)
        if refusal:
            return refusal
        upload = form["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            return Response(
                {"detail": f"The file is larger than {settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MB."}, status=413
            )
        template = WorkflowTemplate.objects.filter(code=form["workflow"], active=True).first()
        if template is None:
            return Response(
                {"detail": f"Unknown workflow template {form['workflow']!r}.", "code": "invalid"}, status=400
            )
        placements = form.get("placements") or None
        if placements is not None and not isinstance(placements, dict):
            return Response(
                {"detail": "placements must be an object keyed by signer username.", "code": "invalid"}, status=400
            )
        document = services.route_start(
            title=form["title"], pdf=upload.read(), template=template, actor=request.user, placements=placements
        )
        document = selectors.document_detail(user=request.user, document_id=document.pk)
        return Response(DocumentDetailOut(document).data, status=status.HTTP_201_CREATED)


class DocumentDetail(ApiView):
    application_scopes = {"GET": "documents:read"}

    @extend_schema(
        summary="A document and its route",
        responses={200: DocumentDetailOut, **errors(404)},
        examples=[DOCUMENT_EXAMPLE],
    )
    def get(self, request, pk: int):
        return Response(DocumentDetailOut(_visible(request, pk)).data)


class DocumentApprove(ApiView):
    # Wrong codes are throttled by the MFA devices themselves (they lock after failures), not per request.
    @extend_schema(
        summary="Approve and sign (the signer's own credentials and OTP; never an application)",
        request=ApproveIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: DocumentDetailOut, **errors(400, 403, 404, 409, 422)},
        examples=[
            OpenApiExample(
                "approve",
                value={
                    "otp": "123456",
                    "comment": "เห็นชอบ",
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                },
                request_only=True,
            ),
            DOCUMENT_EXAMPLE,
        ],
    )
    @idempotent
    def post(self, request, pk: int):
        document = _visible(request, pk)
        form, refusal = _form(ApproveIn, request)
        if refusal:
            return refusal
        services.decision_approve(
            document=document, actor=request.user, otp=form["otp"], comment=form["comment"], sha256=form["sha256"]
        )
        return Response(DocumentDetailOut(_visible(request, pk)).data, status=status.HTTP_202_ACCEPTED)


class DecisionView(ApiView):
    """Reject, return and recall: parse the comment, call one workflow service, show the document."""

    def decide(self, *, document, actor, form: dict) -> None:
        raise NotImplementedError

    def post(self, request, pk: int):
        document = _visible(request, pk)
        form, refusal = _form(DecisionIn, request)
        if refusal:
            return refusal
        self.decide(document=document, actor=request.user, form=form)
        return Response(DocumentDetailOut(_visible(request, pk)).data)


class DocumentReject(DecisionView):
    def decide(self, *, document, actor, form):
        services.decision_reject(document=document, actor=actor, comment=form["comment"])

    @extend_schema(
        summary="Reject (ends the route); a comment is required",
        request=DecisionIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: DocumentDetailOut, **errors(400, 403, 404, 409, 422)},
        examples=[OpenApiExample("reject", value={"comment": "งบประมาณไม่เพียงพอ"}, request_only=True)],
    )
    @idempotent
    def post(self, request, pk: int):
        return super().post(request, pk)


class DocumentReturn(DecisionView):
    def decide(self, *, document, actor, form):
        services.decision_return(document=document, actor=actor, comment=form["comment"], to_tier=form["to_tier"])

    @extend_schema(
        summary="Return for revision, to the requester or to an earlier tier",
        request=DecisionIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: DocumentDetailOut, **errors(400, 403, 404, 409, 422)},
        examples=[OpenApiExample("return", value={"comment": "แก้ไขวันที่", "to_tier": 1}, request_only=True)],
    )
    @idempotent
    def post(self, request, pk: int):
        return super().post(request, pk)


class DocumentRecall(DecisionView):
    def decide(self, *, document, actor, form):
        services.route_recall(document=document, actor=actor, reason=form["comment"])

    @extend_schema(
        summary="Recall a running document (the requester only)",
        request=DecisionIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: DocumentDetailOut, **errors(400, 403, 404, 409, 422)},
        examples=[OpenApiExample("recall", value={"comment": "ส่งผิดเรื่อง"}, request_only=True)],
    )
    @idempotent
    def post(self, request, pk: int):
        return super().post(request, pk)


class DocumentFile(ApiView):
    application_scopes = {"GET": "documents:read"}

    @extend_schema(
        summary="The latest version of the PDF",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="the latest version"),
            **errors(404),
        },
    )
    def get(self, request, pk: int):
        from .signing_handler import version_read

        document = _visible(request, pk)
        version = selectors.latest_version(document)
        data = version_read(version)
        audit.record(
            actor=request.user,
            action="document.downloaded",
            target=document,
            details={"version": version.number, "sha256": version.sha256},
        )
        response = FileResponse(
            BytesIO(data), content_type="application/pdf", filename=f"document-{document.pk}-v{version.number}.pdf"
        )
        response["X-Content-SHA256"] = version.sha256
        return response


class DocumentArchive(ApiView):
    application_scopes = {"GET": "documents:read"}

    @extend_schema(
        summary="The PDF/A-3 archive copy",
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="the archive copy"),
            **errors(404),
        },
    )
    def get(self, request, pk: int):
        from .services.copies import document_archive_read

        version, data = document_archive_read(document=_visible(request, pk), actor=request.user)
        response = FileResponse(
            BytesIO(data), content_type="application/pdf", filename=f"document-{pk}-archive-v{version.number}.pdf"
        )
        response["X-Content-SHA256"] = version.sha256
        return response


class EncryptedCopyIn(serializers.Serializer):
    password = serializers.CharField(required=False, max_length=200, trim_whitespace=False)
    recipients = serializers.ListField(child=serializers.CharField(max_length=150), required=False, max_length=50)


class DocumentEncrypted(ApiView):
    application_scopes = {"POST": "documents:read"}

    @extend_schema(
        summary="An AES-256 encrypted copy for a password or for recipients' certificates",
        request=EncryptedCopyIn,
        responses={
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="the encrypted copy"),
            **errors(400, 404, 422),
        },
    )
    def post(self, request, pk: int):
        from .services.copies import document_encrypted_copy_make

        document = _visible(request, pk)
        form, error = _form(EncryptedCopyIn, request)
        if error:
            return error
        data = document_encrypted_copy_make(
            document=document, actor=request.user, password=form.get("password"), recipients=form.get("recipients")
        )
        return FileResponse(BytesIO(data), content_type="application/pdf", filename=f"document-{pk}-encrypted.pdf")


class DocumentVersions(ListView):
    serializer_class = VersionOut
    application_scopes = {"GET": "documents:read"}

    def get_queryset(self):
        document = _visible(self.request, self.kwargs["pk"])
        return DocumentVersion.objects.filter(document=document).order_by("number")

    @extend_schema(
        summary="Every immutable version of the document, oldest first",
        responses={200: VersionOut(many=True), **errors(404)},
        examples=[
            OpenApiExample(
                "original",
                value={
                    "number": 1,
                    "kind": "original",
                    "sha256": "9f86d0…",
                    "size": 48213,
                    "created_at": "2026-03-01T09:00:00+07:00",
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DocumentTimeline(ApiView):
    application_scopes = {"GET": "documents:read"}

    @extend_schema(
        summary="What happened to the document, oldest first",
        responses={
            200: inline_serializer(
                "TimelineEntry",
                {
                    "at": serializers.DateTimeField(),
                    "action": serializers.CharField(),
                    "actor": serializers.CharField(allow_null=True),
                    "outcome": serializers.CharField(),
                    "details": serializers.DictField(),
                },
                many=True,
            ),
            **errors(404),
        },
    )
    def get(self, request, pk: int):
        return Response(selectors.timeline(_visible(request, pk)))


class Inbox(ListView):
    serializer_class = InboxItemOut

    def get_queryset(self):
        return selectors.inbox(self.request.user)

    @extend_schema(
        summary="Seats waiting for your decision, oldest first",
        responses={200: InboxItemOut(many=True), **errors(403)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class BatchCreate(ApiView):
    @extend_schema(
        summary="Approve and sign several documents after one OTP",
        description=(
            "One MFA step-up, then each document is approved in its own transaction; documents that cannot "
            "be approved are listed in `errors` and do not stop the others. Poll the batch for progress."
        ),
        request=BatchIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            202: BatchCreatedOut,
            409: OpenApiResponse(BatchRefusedOut, description="none of the documents could be approved"),
            **{code: r for code, r in errors(400, 403, 422).items()},
        },
        examples=[
            OpenApiExample(
                "batch",
                value={
                    "documents": [41, 42],
                    "otp": "123456",
                    "comment": "",
                    "sha256": {"41": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
                },
                request_only=True,
            ),
            OpenApiExample(
                "accepted", value={"id": 7, "total": 2, "errors": []}, response_only=True, status_codes=["202"]
            ),
        ],
    )
    @idempotent
    def post(self, request):
        form, refusal = _form(BatchIn, request)
        if refusal:
            return refusal
        wanted = list(dict.fromkeys(form["documents"]))
        found = {d.pk: d for d in selectors.documents_visible_to(request.user).filter(pk__in=wanted)}
        missing = [{"document": pk, "detail": "Not found.", "code": "not_found"} for pk in wanted if pk not in found]
        batch, refused = services.decision_approve_batch(
            documents=[found[pk] for pk in wanted if pk in found],
            actor=request.user,
            otp=form["otp"],
            comment=form["comment"],
            sha256=_batch_versions(form["sha256"]),
        )
        problems = missing + refused
        if batch.total == 0:
            return Response(
                {"detail": "None of the documents could be approved.", "code": "none_approved", "errors": problems},
                status=409,
            )
        return Response({"id": batch.pk, "total": batch.total, "errors": problems}, status=status.HTTP_202_ACCEPTED)


class BatchDetail(ApiView):
    @extend_schema(
        summary="Progress of a batch: how many signatures are done",
        responses={200: BatchProgressOut, **errors(404)},
        examples=[
            OpenApiExample(
                "half done",
                value={
                    "id": 7,
                    "total": 2,
                    "finished": 1,
                    "queued": 1,
                    "running": 0,
                    "waiting": 0,
                    "done": 1,
                    "failed": 0,
                },
                response_only=True,
            )
        ],
    )
    def get(self, request, pk: int):
        batch = SigningBatch.objects.filter(pk=pk, signer_id=request.user.pk).first() if 0 < pk <= MAX_ID else None
        if batch is None:
            raise Http404
        return Response(signing_batch_progress(batch=batch))

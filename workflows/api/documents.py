"""Documents and workflow templates: listing, creating, reading, deciding, the inbox."""

from __future__ import annotations

import json

from django.conf import settings
from django.db.models import Prefetch
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
)
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from integrations.idempotency import idempotent

from .. import selectors, services
from ..models import (
    DocumentStatus,
    TemplateTier,
    Urgency,
    WorkflowTemplate,
)
from ..serializers import (
    DOCUMENT_EXAMPLE,
    MAX_ID,
    ApproveChallengeIn,
    ApproveIn,
    DecisionIn,
    DocumentCreateIn,
    DocumentDetailOut,
    DocumentListOut,
    DocumentOut,
    InboxItemOut,
    MemoIn,
    PasskeyOptionsOut,
    ResubmitIn,
    WorkflowOut,
)
from .base import IDEMPOTENCY_KEY, ApiView, KeysetListView, ListView, _form, _too_large, _visible, errors

URGENCY_PARAMETER = OpenApiParameter(
    "urgency", OpenApiTypes.STR, enum=Urgency.values, description="only documents of this urgency (ชั้นความเร็ว)"
)


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


class DocumentListCreate(KeysetListView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    serializer_class = DocumentListOut
    application_scopes = {"GET": "documents:read", "POST": "documents:create"}

    @extend_schema(
        summary="Documents you requested, sign, or may see, newest first",
        description="Rows without their route (the detail has it); pages follow `next` (no count).",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=DocumentStatus.values, description="document status"),
            OpenApiParameter(
                "role",
                OpenApiTypes.STR,
                enum=["requester", "signer"],
                description="only documents you requested, or only those you hold a seat in",
            ),
            OpenApiParameter("q", OpenApiTypes.STR, description="search title, number (#id) or requester"),
            OpenApiParameter("sort", OpenApiTypes.STR, enum=list(selectors.DOCUMENT_SORTS), description="order"),
            URGENCY_PARAMETER,
        ],
        responses={200: DocumentListOut(many=True), **errors(400)},
    )
    def get(self, request, *args, **kwargs):
        params = request.query_params
        status_filter, role = params.get("status", ""), params.get("role", "")
        sort = params.get("sort") or "newest"
        if status_filter and status_filter not in DocumentStatus.values:
            return Response(
                {"detail": f"status must be one of {', '.join(DocumentStatus.values)}.", "code": "invalid"}, status=400
            )
        if role and role not in ("requester", "signer"):
            return Response({"detail": "role must be requester or signer.", "code": "invalid"}, status=400)
        if sort not in selectors.DOCUMENT_SORTS:
            return Response(
                {"detail": f"sort must be one of {', '.join(selectors.DOCUMENT_SORTS)}.", "code": "invalid"}, status=400
            )
        urgency, refusal = _urgency(params)
        if refusal:
            return refusal
        q = params.get("q", "").replace("\x00", "").strip()[:200]
        return self.page_response(
            request,
            selectors.documents_page,
            user=request.user,
            role=role,
            sort=sort,
            q=q,
            status=status_filter,
            urgency=urgency,
        )

    @extend_schema(
        summary="Upload a PDF, or send a memo for dsign to render, and start its route",
        description=(
            "Either `file` (a PDF, multipart) or `memo` (JSON: department, number or none to take the next one "
            "from your unit's send register, date, subject, to, body, optional urgency and confidentiality). "
            "A memo is rendered by the same composer as the office pages, with a signature box per seat below "
            "the body. Bad memo fields get 400 with `fields` naming them."
        ),
        request={"multipart/form-data": DocumentCreateIn, "application/json": DocumentCreateIn},
        parameters=[IDEMPOTENCY_KEY],
        responses={201: DocumentDetailOut, **errors(400, 403, 409, 413, 422)},
        examples=[
            OpenApiExample(
                "memo",
                value={
                    "title": "ขออนุมัติจัดซื้อวัสดุสำนักงาน",
                    "workflow": "memo-2-tier",
                    "memo": {
                        "department": "กองคลัง ฝ่ายพัสดุ",
                        "number": None,
                        "date": "2026-12-01",
                        "subject": "ขออนุมัติจัดซื้อวัสดุสำนักงาน",
                        "to": "ผู้อำนวยการ",
                        "body": "ด้วยฝ่ายพัสดุมีความประสงค์จะจัดซื้อวัสดุสำนักงาน\nจึงเรียนมาเพื่อโปรดพิจารณา",
                        "urgency": "urgent",
                    },
                },
                request_only=True,
            ),
            DOCUMENT_EXAMPLE,
        ],
    )
    @idempotent
    def post(self, request):
        form, refusal = _form(DocumentCreateIn, request)
        if refusal:
            return refusal
        template = WorkflowTemplate.objects.filter(code=form["workflow"], active=True).first()
        if template is None:
            return Response(
                {"detail": _("Unknown workflow template %(code)s.") % {"code": form["workflow"]}, "code": "invalid"},
                status=400,
            )
        if "memo" in form:
            if form.get("file") is not None or form.get("placements"):
                return _invalid(["file", "memo"], "Send either a file (with placements) or a memo, not both.")
            fields, refusal = _memo_fields(form["memo"])
            if refusal:
                return refusal
            document = services.memo_route_start(
                title=form["title"], fields=fields, template=template, actor=request.user
            )
        else:
            upload = form.get("file")
            if upload is None:
                return _invalid(["file", "memo"], "file: This field is required (or send a memo).")
            if upload.size > settings.MAX_UPLOAD_BYTES:
                return _too_large()
            placements = form.get("placements") or None
            if placements is not None and not isinstance(placements, dict):
                return Response(
                    {"detail": "placements must be an object keyed by signer username.", "code": "invalid"}, status=400
                )
            document = services.route_start(
                title=form["title"],
                pdf=upload.read(),
                template=template,
                actor=request.user,
                placements=placements,
                urgency=form["urgency"],
                confidentiality=form["confidentiality"],
            )
        document = selectors.document_detail(user=request.user, document_id=document.pk)
        return Response(DocumentDetailOut(document).data, status=status.HTTP_201_CREATED)


def _invalid(fields: list[str], detail: str) -> Response:
    return Response({"detail": detail, "code": "invalid", "fields": fields}, status=400)


def _memo_fields(raw) -> tuple[services.MemoFields | None, Response | None]:
    """The memo's fields, or a 400 naming every bad one (`memo.subject`, …)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None, _invalid(["memo"], "memo: must be a JSON object.")
    if not isinstance(raw, dict):
        return None, _invalid(["memo"], "memo: must be a JSON object.")
    form = MemoIn(data=raw)
    if not form.is_valid():
        problems = {f"memo.{name}": messages for name, messages in form.errors.items()}
        detail = "; ".join(f"{name}: {messages[0]}" for name, messages in problems.items())
        return None, _invalid(sorted(problems), detail)
    data = form.validated_data
    return (
        services.MemoFields(
            department=data["department"].strip(),
            number=(data["number"] or "").strip(),
            date=data["date"],
            subject=data["subject"].strip(),
            to=data["to"].strip(),
            body=data["body"],
            urgency=data["urgency"],
            confidentiality=data["confidentiality"],
            external=data["external"],
        ),
        None,
    )


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
        # Visibility only (one row): the service reads what the decision needs under the document lock,
        # and the detail is loaded once, after the decision, for the answer.
        document = selectors.documents_visible_to(request.user).filter(pk=pk).first() if 0 < pk <= MAX_ID else None
        if document is None:
            raise Http404
        form, refusal = _form(ApproveIn, request)
        if refusal:
            return refusal
        services.decision_approve(
            document=document,
            actor=request.user,
            otp=form["otp"],
            webauthn=form["webauthn"],
            comment=form["comment"],
            sha256=form["sha256"],
            request=request,
        )
        detail = selectors.document_detail_for_tracking(document)
        return Response(DocumentDetailOut(detail).data, status=status.HTTP_202_ACCEPTED)


class DocumentApproveChallenge(ApiView):
    @extend_schema(
        summary="A passkey challenge for approving this document (its current version)",
        description=(
            "Checks that the caller may approve now (seat, room, `sha256` still current), then returns "
            "WebAuthn request options whose challenge carries this document, its version's SHA-256 and the "
            "caller: the assertion approves this document only, once, within WEBAUTHN_CHALLENGE_SECONDS. "
            "Send it as `webauthn` to `approve/`. 409 `passkey_none` when the caller has no passkey."
        ),
        request=ApproveChallengeIn,
        responses={200: PasskeyOptionsOut, **errors(400, 403, 404, 409)},
    )
    def post(self, request, pk: int):
        document = _visible(request, pk)
        form, refusal = _form(ApproveChallengeIn, request)
        if refusal:
            return refusal
        options = services.approval_passkey_options(
            documents=[document],
            actor=request.user,
            sha256={document.pk: form["sha256"]} if form["sha256"] else None,
            request=request,
        )
        return Response(options)


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


class DocumentResubmit(ApiView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        summary="Send a returned document again, revised or as it is (the requester only)",
        request={"multipart/form-data": ResubmitIn, "application/json": ResubmitIn},
        parameters=[IDEMPOTENCY_KEY],
        responses={200: DocumentOut, **errors(400, 403, 404, 409, 413, 422)},
        examples=[OpenApiExample("resubmit", value={"comment": "แก้ไขวันที่แล้ว"}, request_only=True)],
    )
    @idempotent
    def post(self, request, pk: int):
        document = _visible(request, pk)
        form, refusal = _form(ResubmitIn, request)
        if refusal:
            return refusal
        upload = form.get("file")
        if upload is not None and upload.size > settings.MAX_UPLOAD_BYTES:
            return _too_large()
        pdf = upload.read() if upload is not None else None
        services.route_resubmit(document=document, actor=request.user, pdf=pdf, comment=form["comment"])
        return Response(DocumentOut(_visible(request, pk)).data)


class Inbox(KeysetListView):
    serializer_class = InboxItemOut

    @extend_schema(
        summary="Seats waiting for your decision, oldest first",
        description="Pages follow `next` (no count).",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, description="search title, number (#id) or requester"),
            URGENCY_PARAMETER,
        ],
        responses={200: InboxItemOut(many=True), **errors(400, 403)},
    )
    def get(self, request, *args, **kwargs):
        urgency, refusal = _urgency(request.query_params)
        if refusal:
            return refusal
        q = (request.query_params.get("q") or "").replace("\x00", "").strip()[:200]
        return self.page_response(request, selectors.inbox_page, user=request.user, q=q, urgency=urgency)


def _urgency(params) -> tuple[str, Response | None]:
    urgency = params.get("urgency", "")
    if urgency and urgency not in Urgency.values:
        detail = f"urgency must be one of {', '.join(Urgency.values)}."
        return "", Response({"detail": detail, "code": "invalid"}, status=400)
    return urgency, None

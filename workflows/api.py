"""REST API of documents: thin views that parse input, call one service or selector, render."""

from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import StepUpFailed, mfa_step_up

from . import selectors, services
from .models import Document, WorkflowTemplate

ERROR = inline_serializer("Error", {"detail": serializers.CharField()})


class AssignmentOut(serializers.Serializer):
    signer = serializers.CharField(source="signer.username")
    signer_name = serializers.CharField(source="signer.full_name_th")
    status = serializers.CharField()
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True, default=None)
    decided_at = serializers.DateTimeField(allow_null=True)
    signed_at = serializers.DateTimeField(allow_null=True)
    comment = serializers.CharField()
    field = serializers.CharField(source="field_name")
    page = serializers.IntegerField()
    box = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class TierOut(serializers.Serializer):
    order = serializers.IntegerField()
    name = serializers.CharField()
    quorum = serializers.IntegerField()
    status = serializers.SerializerMethodField()
    due_at = serializers.DateTimeField(allow_null=True)
    assignments = AssignmentOut(many=True)

    def get_status(self, tier) -> str:
        # "closed" tiers (route ended early) read as pending/completed in the public vocabulary.
        return tier.status if tier.status != "closed" else ("completed" if tier.completed_at else "pending")


class DocumentOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    workflow = serializers.CharField(source="template.code")
    requester = serializers.CharField(source="requester.username")
    pades_level = serializers.CharField()
    round = serializers.IntegerField()
    waiting_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    tiers = serializers.SerializerMethodField()

    def get_tiers(self, document) -> list[dict]:
        return TierOut(selectors.current_tiers(document), many=True).data


class DocumentCreateIn(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    title = serializers.CharField(max_length=300)
    workflow = serializers.CharField(max_length=64)
    placements = serializers.JSONField(required=False, help_text='{"head1": {"page": 0, "box": [x1,y1,x2,y2]}}')


def _workflow_error(exc: services.WorkflowError) -> Response:
    return Response({"detail": exc.message}, status=exc.status)


def _read_upload(upload) -> bytes:
    if upload.size > settings.MAX_UPLOAD_BYTES:
        raise services.InvalidDocument("too large")
    return upload.read()


class DocumentListCreate(APIView):
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(responses={200: DocumentOut(many=True)})
    def get(self, request):
        qs = selectors.documents_visible_to(request.user).select_related("template", "requester").order_by("-id")
        status_filter = request.query_params.get("status")
        if status_filter:
            qs = qs.filter(status=status_filter)
        page = self.paginator.paginate_queryset(qs.prefetch_related("tiers__assignments__signer"), request, view=self)
        return self.paginator.get_paginated_response(DocumentOut(page, many=True).data)

    @property
    def paginator(self):
        if not hasattr(self, "_paginator"):
            from rest_framework.pagination import LimitOffsetPagination

            self._paginator = LimitOffsetPagination()
        return self._paginator

    @extend_schema(
        request={"multipart/form-data": DocumentCreateIn},
        responses={201: DocumentOut, 400: ERROR, 413: ERROR},
    )
    def post(self, request):
        form = DocumentCreateIn(data=request.data)
        if not form.is_valid():
            return Response({"detail": _first_error(form.errors)}, status=400)
        upload = form.validated_data["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            return Response(
                {"detail": f"The file is larger than {settings.MAX_UPLOAD_BYTES // (1024 * 1024)} MB."}, status=413
            )
        template = WorkflowTemplate.objects.filter(code=form.validated_data["workflow"], active=True).first()
        if template is None:
            return Response({"detail": f"Unknown workflow template {form.validated_data['workflow']!r}."}, status=400)
        placements = form.validated_data.get("placements") or None
        if placements is not None and not isinstance(placements, dict):
            return Response({"detail": "placements must be an object keyed by signer username."}, status=400)
        try:
            document = services.route_start(
                title=form.validated_data["title"],
                pdf=upload.read(),
                template=template,
                actor=request.user,
                placements=placements,
            )
        except services.WorkflowError as exc:
            return _workflow_error(exc)
        document = selectors.document_detail(user=request.user, document_id=document.pk)
        return Response(DocumentOut(document).data, status=status.HTTP_201_CREATED)


def _first_error(errors) -> str:
    for field, messages in errors.items():
        return f"{field}: {messages[0]}"
    return "Invalid input."


def _visible(request, pk: int) -> Document:
    document = selectors.document_detail(user=request.user, document_id=pk)
    if document is None:
        raise Http404
    return document


class DocumentDetail(APIView):
    @extend_schema(responses={200: DocumentOut, 404: ERROR})
    def get(self, request, pk: int):
        return Response(DocumentOut(_visible(request, pk)).data)


class ApproveIn(serializers.Serializer):
    otp = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DecisionIn(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    to_tier = serializers.IntegerField(required=False, allow_null=True, default=None)


class DocumentApprove(APIView):
    # Wrong codes are throttled by the MFA devices themselves (they lock after failures), not per request.
    @extend_schema(
        request=ApproveIn,
        responses={202: DocumentOut, 403: ERROR, 404: ERROR, 409: ERROR, 429: ERROR},
    )
    def post(self, request, pk: int):
        document = _visible(request, pk)
        form = ApproveIn(data=request.data)
        if not form.is_valid():
            return Response({"detail": _first_error(form.errors)}, status=400)
        try:
            services._seat_for(document=document, actor=request.user)
        except services.WorkflowError as exc:
            return _workflow_error(exc)
        try:
            mfa_step_up(user=request.user, code=form.validated_data["otp"])
        except StepUpFailed as exc:
            return Response({"detail": exc.message}, status=429 if exc.throttled else 403)
        try:
            services.decision_approve(
                document=document, actor=request.user, comment=form.validated_data["comment"], step_up_verified=True
            )
        except services.WorkflowError as exc:
            return _workflow_error(exc)
        return Response(DocumentOut(_visible(request, pk)).data, status=status.HTTP_202_ACCEPTED)


class DocumentReject(APIView):
    @extend_schema(request=DecisionIn, responses={200: DocumentOut, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    def post(self, request, pk: int):
        document = _visible(request, pk)
        form = DecisionIn(data=request.data)
        if not form.is_valid():
            return Response({"detail": _first_error(form.errors)}, status=400)
        try:
            services.decision_reject(document=document, actor=request.user, comment=form.validated_data["comment"])
        except services.WorkflowError as exc:
            return _workflow_error(exc)
        return Response(DocumentOut(_visible(request, pk)).data)


class DocumentReturn(APIView):
    @extend_schema(request=DecisionIn, responses={200: DocumentOut, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    def post(self, request, pk: int):
        document = _visible(request, pk)
        form = DecisionIn(data=request.data)
        if not form.is_valid():
            return Response({"detail": _first_error(form.errors)}, status=400)
        try:
            services.decision_return(
                document=document,
                actor=request.user,
                comment=form.validated_data["comment"],
                to_tier=form.validated_data["to_tier"],
            )
        except services.WorkflowError as exc:
            return _workflow_error(exc)
        return Response(DocumentOut(_visible(request, pk)).data)


class DocumentRecall(APIView):
    @extend_schema(request=DecisionIn, responses={200: DocumentOut, 404: ERROR, 409: ERROR})
    def post(self, request, pk: int):
        document = _visible(request, pk)
        form = DecisionIn(data=request.data)
        form.is_valid()
        try:
            services.route_recall(
                document=document,
                actor=request.user,
                reason=form.validated_data.get("comment", "") if form.is_valid() else "",
            )
        except services.WorkflowError as exc:
            return _workflow_error(exc)
        except services.states.TransitionNotAllowed as exc:
            return Response({"detail": str(exc)}, status=409)
        return Response(DocumentOut(_visible(request, pk)).data)


class DocumentFile(APIView):
    @extend_schema(responses={(200, "application/pdf"): OpenApiResponse(description="the latest version"), 404: ERROR})
    def get(self, request, pk: int):
        import audit

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
        from io import BytesIO

        response = FileResponse(
            BytesIO(data), content_type="application/pdf", filename=f"document-{document.pk}-v{version.number}.pdf"
        )
        response["X-Content-SHA256"] = version.sha256
        return response


class DocumentTimeline(APIView):
    @extend_schema(
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
            404: ERROR,
        }
    )
    def get(self, request, pk: int):
        return Response(selectors.timeline(_visible(request, pk)))

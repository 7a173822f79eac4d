"""A document's files: the signed PDF, the archive, the encrypted copy, versions and timeline."""

from __future__ import annotations

from io import BytesIO

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

import audit

from .. import selectors
from ..models import (
    DocumentVersion,
)
from ..serializers import (
    VersionOut,
)
from .base import ApiView, ListView, _form, _too_large, _visible, errors


def _pdf(description: str, *codes: int) -> dict:
    """The responses of a view answering with a PDF."""
    return {(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description=description), **errors(*codes)}


class DocumentFile(ApiView):
    application_scopes = {"GET": "documents:read"}

    @extend_schema(
        summary="The latest version of the PDF",
        responses=_pdf("the latest version", 404),
    )
    def get(self, request, pk: int):
        from ..signing_handler import version_read

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
        responses=_pdf("the archive copy", 404),
    )
    def get(self, request, pk: int):
        from ..services.copies import document_archive_read

        version, data = document_archive_read(document=_visible(request, pk), actor=request.user)
        response = FileResponse(
            BytesIO(data), content_type="application/pdf", filename=f"document-{pk}-archive-v{version.number}.pdf"
        )
        response["X-Content-SHA256"] = version.sha256
        return response


class DocumentEvidence(ApiView):
    application_scopes = {"GET": "documents:read"}

    @extend_schema(
        summary="The completion certificate: who signed in which seat, when, with which factor and certificate",
        responses=_pdf("the evidence PDF", 404, 409),
    )
    def get(self, request, pk: int):
        from ..services.evidence import evidence_pdf_make

        data = evidence_pdf_make(document=_visible(request, pk), actor=request.user)
        return FileResponse(BytesIO(data), content_type="application/pdf", filename=f"document-{pk}-evidence.pdf")


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
        from ..services.copies import document_encrypted_copy_make

        document = _visible(request, pk)
        form, error = _form(EncryptedCopyIn, request)
        if error:
            return error
        data = document_encrypted_copy_make(
            document=document, actor=request.user, password=form.get("password"), recipients=form.get("recipients")
        )
        return FileResponse(BytesIO(data), content_type="application/pdf", filename=f"document-{pk}-encrypted.pdf")


class EncryptedCopyOpenIn(serializers.Serializer):
    file = serializers.FileField(help_text="a copy encrypted to your certificate (from .../encrypted/)")
    otp = serializers.CharField(max_length=64, help_text="a fresh code of your MFA device: your key opens it")


class EncryptedCopyOpen(ApiView):
    # people only (no application scope): the recipient's own key, after the recipient's own code
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Open a copy encrypted to you: the signed document inside, decrypted with your key in the HSM",
        request={"multipart/form-data": EncryptedCopyOpenIn},
        responses=_pdf("the signed document inside the copy", 400, 403, 413, 422, 429),
    )
    def post(self, request):
        from ..services.copies import encrypted_copy_open

        form, error = _form(EncryptedCopyOpenIn, request)
        if error:
            return error
        upload = form["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            return _too_large()
        data = encrypted_copy_open(user=request.user, data=upload.read(), otp=form["otp"], request=request)
        return FileResponse(BytesIO(data), content_type="application/pdf", filename="signed-document.pdf")


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

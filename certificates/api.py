"""REST API of certificates: holders see their own; CA officers, IT admins and auditors see all."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from . import external, selectors, services
from .models import Certificate, CertificateStatus

ERROR = inline_serializer("CertificateError", {"detail": serializers.CharField(), "code": serializers.CharField()})


class CertificateOut(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username")
    holder_name = serializers.CharField(source="user.full_name_th")
    org_unit = serializers.CharField(source="user.org_unit.code", allow_null=True, default=None)
    status_display = serializers.CharField(source="get_status_display")
    has_csr = serializers.SerializerMethodField()

    class Meta:
        model = Certificate
        fields = [
            "id", "user", "holder_name", "org_unit", "purpose", "status", "status_display", "source", "serial_number",
            "subject_cn", "issuer_cn", "key_algorithm", "created_at", "not_before", "not_after",
            "agreement_accepted_at", "revoked_at", "revocation_reason", "superseded_by", "has_csr",
            "identity_proofing_level", "identity_proofing_method", "identity_proofing_reference",
        ]  # fmt: skip

    def get_has_csr(self, cert) -> bool:
        return bool(cert.csr_pem)


class CertificateList(ListAPIView):
    serializer_class = CertificateOut

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=CertificateStatus.values),
            OpenApiParameter("org_unit", str, description="org unit code or id"),
            OpenApiParameter("expiring_within", int, description="active or pending, expiring within N days"),
        ],
        responses={200: CertificateOut(many=True), 400: ERROR},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        days = params.get("expiring_within")
        if days is not None and not (days.isdigit() and int(days) <= 36500):
            raise serializers.ValidationError({"detail": "expiring_within must be a whole number of days."})
        status = params.get("status") or None
        if status and status not in CertificateStatus.values:
            raise serializers.ValidationError(
                {"detail": f"Unknown status; use one of {', '.join(CertificateStatus.values)}."}
            )
        return selectors.certificates_filter(
            queryset=selectors.certificates_visible(user=self.request.user),
            status=status,
            org_unit=params.get("org_unit") or None,
            expiring_within=int(days) if days is not None else None,
        )


def _visible(request, pk: int) -> Certificate:
    return get_object_or_404(selectors.certificates_visible(user=request.user), pk=pk)


class CertificateDetail(APIView):
    @extend_schema(responses={200: CertificateOut, 404: ERROR})
    def get(self, request, pk: int):
        return Response(CertificateOut(_visible(request, pk)).data)


class CertificateCsr(APIView):
    @extend_schema(responses={(200, "application/pkcs10"): OpenApiTypes.STR, 404: ERROR})
    def get(self, request, pk: int):
        cert = _visible(request, pk)
        if not cert.csr_pem:
            return Response(
                {"detail": "This certificate was not requested with a CSR.", "code": "not_found"}, status=404
            )
        response = HttpResponse(cert.csr_pem, content_type="application/pkcs10")
        response["Content-Disposition"] = f'attachment; filename="dsign-{cert.user.username}-{cert.pk}.csr"'
        return response


class ImportIn(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True, help_text="the issued certificate: PEM, DER or PKCS#7")


class CertificateImport(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportIn},
        responses={200: CertificateOut, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
    )
    def post(self, request, pk: int):
        cert = _visible(request, pk)
        if cert.user_id != request.user.pk and not selectors.user_manages_certificates(request.user):
            return Response(
                {"detail": "Only the holder or a CA officer may import this certificate.", "code": "forbidden"},
                status=403,
            )
        form = ImportIn(data=request.data)
        if not form.is_valid():
            return Response(
                {"detail": "Upload the issued certificate as the multipart field 'file'.", "code": "invalid"},
                status=400,
            )
        upload = form.validated_data["file"]
        if upload.size > min(settings.MAX_UPLOAD_BYTES, 1 << 20):
            return Response({"detail": "The file is too large for a certificate.", "code": "too_large"}, status=413)
        cert = external.certificate_import_issued(certificate=cert, data=upload.read(), actor=request.user)
        return Response(CertificateOut(cert).data)


class RevokeIn(serializers.Serializer):
    reason = serializers.ChoiceField(choices=services.REVOCATION_REASONS, default="unspecified")


class CertificateRevoke(APIView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(request=RevokeIn, responses={200: CertificateOut, 400: ERROR, 403: ERROR, 404: ERROR, 409: ERROR})
    def post(self, request, pk: int):
        if not selectors.user_manages_certificates(request.user):
            return Response({"detail": "Only a CA officer may revoke certificates.", "code": "forbidden"}, status=403)
        cert = _visible(request, pk)
        form = RevokeIn(data=request.data)
        if not form.is_valid():
            return Response(
                {"detail": f"reason must be one of {', '.join(services.REVOCATION_REASONS)}.", "code": "invalid"},
                status=400,
            )
        cert = services.certificate_revoke(certificate=cert, actor=request.user, reason=form.validated_data["reason"])
        return Response(CertificateOut(cert).data)


class EncryptionIn(serializers.Serializer):
    user = serializers.CharField(
        max_length=150, required=False, help_text="whose (CA officers); yourself when left out"
    )


class EncryptionCertificateIssue(APIView):
    """An encryption certificate (keyEncipherment, its own key in the HSM) for receiving encrypted copies."""

    parser_classes = [JSONParser, FormParser]

    @extend_schema(request=EncryptionIn, responses={201: CertificateOut, 400: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request):
        from accounts.models import User

        form = EncryptionIn(data=request.data)
        if not form.is_valid():
            return Response({"detail": "user: a username.", "code": "invalid"}, status=400)
        username = form.validated_data.get("user") or request.user.username
        user = get_object_or_404(User, username=username, is_active=True)
        cert = services.encryption_certificate_issue(user=user, actor=request.user)
        return Response(CertificateOut(cert).data, status=201)


class AcceptIn(serializers.Serializer):
    token = serializers.CharField(max_length=100)


class CertificateAccept(APIView):
    parser_classes = [JSONParser, FormParser]

    @extend_schema(
        request=AcceptIn,
        responses={200: CertificateOut, 400: ERROR, 403: OpenApiResponse(ERROR), 404: ERROR, 409: ERROR},
    )
    def post(self, request, pk: int):
        cert = _visible(request, pk)
        form = AcceptIn(data=request.data)
        if not form.is_valid():
            return Response(
                {"detail": "Send the agreement token from the e-mail as 'token'.", "code": "invalid"}, status=400
            )
        cert = services.certificate_accept(certificate=cert, actor=request.user, token=form.validated_data["token"])
        return Response(CertificateOut(cert).data)

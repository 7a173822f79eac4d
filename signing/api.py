"""REST API of verification: anyone signed in may upload a PDF and read its report."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services, verification
from .verification_sandbox import VerifierBusy


class VerifyIn(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    lang = serializers.ChoiceField(choices=["th", "en"], required=False, default="en")
    password = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=256)


class VerifyView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": VerifyIn},
        responses={
            200: inline_serializer(
                "VerificationReport",
                {
                    "valid": serializers.BooleanField(),
                    "signatures": serializers.ListField(child=serializers.DictField()),
                    "problems": serializers.ListField(child=serializers.CharField()),
                    "problem_codes": serializers.ListField(child=serializers.CharField()),
                    "container": serializers.CharField(required=False, help_text="encrypted_copy: a wrapper"),
                    "inner_valid": serializers.BooleanField(
                        required=False, help_text="a wrapper's signed document inside (the wrapper is never valid)"
                    ),
                },
            ),
            400: inline_serializer("VerifyError", {"detail": serializers.CharField()}),
            429: inline_serializer(
                "VerifierBusy", {"detail": serializers.CharField(), "code": serializers.CharField()}
            ),
        },
    )
    def post(self, request):
        form = VerifyIn(data=request.data)
        if not form.is_valid():
            return Response(
                {"detail": "Upload the PDF to verify as the multipart field 'file'.", "code": "invalid"}, status=400
            )
        upload = form.validated_data["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            return Response({"detail": "The file is too large to verify.", "code": "too_large"}, status=413)
        data = upload.read()
        try:
            report = services.document_verify(
                data=data,
                lang=form.validated_data["lang"],
                actor=request.user,
                password=form.validated_data.get("password"),
            )
        except VerifierBusy as exc:
            return Response(
                {"detail": services.verifier_busy_message(exc), "code": "verifier_busy"},
                status=429,
                headers={"Retry-After": "5"},
            )
        except verification.EncryptedPDF as exc:
            return Response({"detail": str(exc), "code": "encrypted"}, status=400)
        except verification.UnreadablePDF as exc:
            return Response({"detail": f"The file cannot be read as a PDF: {exc}", "code": "invalid"}, status=400)
        return Response(report)

"""REST API of the signed-in user: profile, MFA devices, enrolment and code challenges."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from . import selectors, services

ERROR = inline_serializer("AccountsError", {"detail": serializers.CharField(), "code": serializers.CharField()})


class ProfileOut(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField()
    title_th = serializers.CharField()
    first_name_th = serializers.CharField()
    last_name_th = serializers.CharField()
    full_name_th = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    full_name_en = serializers.CharField()
    position = serializers.CharField()
    org_unit = serializers.CharField(source="org_unit.name_th", default=None, allow_null=True)
    roles = serializers.SerializerMethodField()
    mfa_enrolled = serializers.SerializerMethodField()

    def get_roles(self, user) -> list[str]:
        return selectors.user_roles(user)

    def get_mfa_enrolled(self, user) -> bool:
        return any(d["confirmed"] for d in selectors.mfa_devices(user))


class DeviceOut(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=["totp", "email", "sms", "backup", "webauthn", "other"])
    name = serializers.CharField()
    confirmed = serializers.BooleanField()
    address = serializers.CharField()
    sends_codes = serializers.BooleanField()
    aal = serializers.IntegerField(help_text="authenticator assurance level: 1 SMS/e-mail/backup, 2 TOTP, 3 passkey")
    locked_until = serializers.DateTimeField(allow_null=True)


def _error(exc: services.MFAError) -> Response:
    return Response({"detail": exc.message, "code": exc.code}, status=exc.status)


# Every change of factors carries a fresh code from a device the user already has (`otp`), or for a first
# device an `enrolment_code` an admin had sent (see accounts.services.factor_change_authorise).
OTP_HELP = "a code from one of your confirmed MFA devices (required when you have one)"
CODE_HELP = "the one-time enrolment code from the e-mail, for a first device"


class Me(APIView):
    @extend_schema(responses={200: ProfileOut})
    def get(self, request):
        return Response(ProfileOut(request.user).data)


class MyDevices(APIView):
    @extend_schema(responses={200: DeviceOut(many=True)})
    def get(self, request):
        return Response(DeviceOut(selectors.mfa_devices(request.user), many=True).data)


class ChallengeIn(serializers.Serializer):
    device = serializers.CharField(max_length=100)


class MyChallenge(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "otp"

    @extend_schema(
        request=ChallengeIn,
        responses={200: inline_serializer("ChallengeOut", {"detail": serializers.CharField()}), 404: ERROR, 429: ERROR},
    )
    def post(self, request):
        form = ChallengeIn(data=request.data)
        if not form.is_valid():
            return Response(
                {"detail": "device: give the id of one of your MFA devices.", "code": "invalid"}, status=400
            )
        try:
            message = services.mfa_challenge(user=request.user, device_id=form.validated_data["device"])
        except services.MFAError as exc:
            return _error(exc)
        return Response({"detail": message})


class EnrolIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["totp", "email", "sms"])
    name = serializers.CharField(max_length=64, required=False, default="Authenticator")
    email = serializers.EmailField(required=False, default="")
    phone = serializers.CharField(max_length=30, required=False, default="")
    otp = serializers.CharField(max_length=64, required=False, default="", help_text=OTP_HELP)
    enrolment_code = serializers.CharField(max_length=64, required=False, default="", help_text=CODE_HELP)


class MyEnrol(APIView):
    """Start enrolling a device: TOTP answers with the otpauth URI and its QR code; e-mail/SMS send a code."""

    @extend_schema(
        request=EnrolIn,
        responses={
            201: inline_serializer(
                "EnrolOut",
                {
                    "device": serializers.CharField(),
                    "otpauth_uri": serializers.CharField(required=False),
                    "qr_svg": serializers.CharField(required=False),
                    "detail": serializers.CharField(),
                },
            ),
            400: ERROR,
            403: ERROR,
        },
    )
    def post(self, request):
        form = EnrolIn(data=request.data)
        if not form.is_valid():
            return Response({"detail": "kind: totp, email or sms.", "code": "invalid"}, status=400)
        data = form.validated_data
        auth = {"otp": data["otp"], "enrolment_code": data["enrolment_code"], "request": request}
        try:
            if data["kind"] == "totp":
                enrolment = services.totp_enrol_start(user=request.user, name=data["name"], **auth)
                return Response(
                    {
                        "device": enrolment.device.persistent_id,
                        "otpauth_uri": enrolment.uri,
                        "qr_svg": enrolment.qr_svg,
                        "detail": "Scan the QR code, then confirm with the 6-digit code.",
                    },
                    status=201,
                )
            if data["kind"] == "email":
                device = services.email_device_add(user=request.user, email=data["email"], **auth)
            else:
                device = services.sms_device_add(user=request.user, phone=data["phone"], **auth)
            message = services.mfa_challenge(user=request.user, device_id=device.persistent_id)
        except services.MFAError as exc:
            return _error(exc)
        return Response({"device": device.persistent_id, "detail": f"Code {message}; confirm with it."}, status=201)


class ConfirmIn(serializers.Serializer):
    device = serializers.CharField(max_length=100)
    code = serializers.CharField(max_length=16)
    otp = serializers.CharField(
        max_length=64, required=False, default="", help_text="needed only when the enrolment was not authorised"
    )


class MyConfirm(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "otp"

    @extend_schema(request=ConfirmIn, responses={200: DeviceOut, 403: ERROR, 404: ERROR, 429: ERROR})
    def post(self, request):
        form = ConfirmIn(data=request.data)
        if not form.is_valid():
            return Response({"detail": "device and code are required.", "code": "invalid"}, status=400)
        try:
            device = services.device_confirm(
                user=request.user,
                device_id=form.validated_data["device"],
                code=form.validated_data["code"],
                otp=form.validated_data["otp"],
                request=request,
            )
        except services.MFAError as exc:
            return _error(exc)
        row = next(d for d in selectors.mfa_devices(request.user) if d["id"] == device.persistent_id)
        return Response(DeviceOut(row).data)


class FactorChangeIn(serializers.Serializer):
    otp = serializers.CharField(max_length=64, required=False, default="", help_text=OTP_HELP)
    enrolment_code = serializers.CharField(max_length=64, required=False, default="", help_text=CODE_HELP)


class MyBackupCodes(APIView):
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "otp"

    @extend_schema(
        request=FactorChangeIn,
        responses={
            201: inline_serializer("BackupCodes", {"codes": serializers.ListField(child=serializers.CharField())}),
            403: ERROR,
            429: ERROR,
        },
    )
    def post(self, request):
        form = FactorChangeIn(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            codes = services.static_codes_generate(user=request.user, request=request, **form.validated_data)
        except services.MFAError as exc:
            return _error(exc)
        return Response({"codes": codes}, status=201)


class RemoveIn(serializers.Serializer):
    device = serializers.CharField(max_length=100)
    otp = serializers.CharField(max_length=64, required=False, default="", help_text=OTP_HELP)


class MyRemove(APIView):
    """Remove one of your devices; needs a code from a confirmed device (it may be the one removed)."""

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "otp"

    @extend_schema(request=RemoveIn, responses={204: None, 403: ERROR, 404: ERROR, 429: ERROR})
    def post(self, request):
        form = RemoveIn(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            services.device_delete(
                user=request.user,
                device_id=form.validated_data["device"],
                otp=form.validated_data["otp"],
                request=request,
            )
        except services.MFAError as exc:
            return _error(exc)
        return Response(status=204)


class SignInIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class SessionSignIn(APIView):
    """Sign in with a password for session use of the API; the same lockout as the sign-in page."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=SignInIn,
        responses={200: ProfileOut, 400: ERROR, 429: ERROR},
    )
    def post(self, request):
        form = SignInIn(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            user = services.password_sign_in(request=request._request, **form.validated_data)
        except services.MFAError as exc:
            return _error(exc)
        return Response(ProfileOut(user).data)


class TokenOut(serializers.Serializer):
    prefix = serializers.CharField(source="key_prefix")
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class MyTokens(APIView):
    """The caller's personal API tokens (created with `manage.py drf_create_token`); keys are not shown."""

    @extend_schema(responses={200: TokenOut(many=True)})
    def get(self, request):
        return Response(TokenOut(selectors.api_tokens_of(request.user), many=True).data)


class MyToken(APIView):
    @extend_schema(responses={204: None, 404: ERROR})
    def delete(self, request, prefix: str):
        token = selectors.api_tokens_of(request.user).filter(key_prefix=prefix).first()
        if token is None:
            return Response({"detail": "You have no live token with this prefix.", "code": "not_found"}, status=404)
        services.api_token_revoke(token=token, actor=request.user, reason="revoked by its holder")
        return Response(status=204)

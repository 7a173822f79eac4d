"""The JSON shapes of the workflow REST API (public, DESIGN.md: extend them, never change them)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema_field
from rest_framework import serializers

from . import selectors
from .models import Confidentiality, Urgency

MAX_ID = 2**63 - 1  # larger ids cannot exist and would overflow the database's integer


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
    approved_sha256 = serializers.CharField(help_text="the version the signer approved (empty while undecided)")
    signing_error = serializers.CharField(help_text="why this seat's last signature failed (Thai); it reopened")
    signing_error_code = serializers.CharField()


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


class DocumentListOut(serializers.Serializer):
    """A row of the document list: the document itself, no route (the detail has the tiers and seats)."""

    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    workflow = serializers.CharField(source="template.code")
    requester = serializers.CharField(source="requester.username")
    pades_level = serializers.CharField()
    round = serializers.IntegerField()
    waiting_reason = serializers.CharField()
    reference_no = serializers.CharField(help_text="ที่ …: the memo's number (from the send register)")
    urgency = serializers.CharField(help_text="ชั้นความเร็ว: most_urgent, very_urgent, urgent or empty")
    confidentiality = serializers.CharField(help_text="ชั้นความลับ: top_secret, secret, confidential or empty")
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)


class DocumentOut(DocumentListOut):
    tiers = serializers.SerializerMethodField()

    @extend_schema_field(TierOut(many=True))
    def get_tiers(self, document) -> list[dict]:
        return TierOut(selectors.current_tiers(document), many=True).data


class CurrentVersionOut(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    sha256 = serializers.CharField(help_text="send it back as `sha256` when approving")


class DocumentDetailOut(DocumentOut):
    version = serializers.SerializerMethodField(help_text="the current version, as the signer is shown it")
    verification_url = serializers.SerializerMethodField(
        help_text="the public verification page (the QR code on the memo), once the document is completed"
    )

    def get_verification_url(self, document) -> str | None:
        from .services.verification_link import verification_url

        return verification_url(document)

    @extend_schema_field(CurrentVersionOut)
    def get_version(self, document) -> dict | None:
        version = selectors.latest_version(document)
        return CurrentVersionOut(version).data if version is not None else None


class MemoIn(serializers.Serializer):
    """A memo (บันทึกข้อความ) for dsign to render instead of an uploaded PDF. Unknown fields are refused."""

    department = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="ส่วนราชการ (the organisation)"
    )
    number = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        allow_null=True,
        default="",
        help_text="ที่ …; empty or null takes the next number of your unit's send register",
    )
    date = serializers.DateField(required=False, allow_null=True, default=None, help_text="วันที่; today by default")
    subject = serializers.CharField(max_length=300, help_text="เรื่อง")
    to = serializers.CharField(max_length=300, help_text="เรียน")
    body = serializers.CharField(max_length=20000, help_text="paragraphs separated by line breaks")
    urgency = serializers.ChoiceField(Urgency.values, required=False, allow_blank=True, default="")
    confidentiality = serializers.ChoiceField(Confidentiality.values, required=False, allow_blank=True, default="")
    external = serializers.BooleanField(
        required=False, default=False, help_text="หนังสือภายนอก: the emblem 3 cm and centred"
    )

    def validate(self, attrs):
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return attrs


class DocumentCreateIn(serializers.Serializer):
    file = serializers.FileField(
        required=False, allow_empty_file=True, help_text="the PDF to route (or send `memo` instead)"
    )
    memo = serializers.JSONField(required=False, help_text="a memo for dsign to render, instead of `file` (MemoIn)")
    title = serializers.CharField(max_length=300)
    workflow = serializers.CharField(max_length=64, help_text="workflow template code, e.g. memo-2-tier")
    placements = serializers.JSONField(required=False, help_text='{"head1": {"page": 0, "box": [x1,y1,x2,y2]}}')
    urgency = serializers.ChoiceField(Urgency.values, required=False, allow_blank=True, default="")
    confidentiality = serializers.ChoiceField(Confidentiality.values, required=False, allow_blank=True, default="")


SHA256 = r"^[0-9a-fA-F]{64}$"


WEBAUTHN_HELP = (
    "instead of `otp`: the passkey's answer (PublicKeyCredential as JSON: id, rawId, type, response with "
    "clientDataJSON, authenticatorData, signature, userHandle, base64url) to the challenge of "
    "`approve/challenge/` for the same document(s) and version(s); 403 `passkey_*` when refused"
)


class ApproveIn(serializers.Serializer):
    otp = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    webauthn = serializers.DictField(required=False, default=None, allow_null=True, help_text=WEBAUTHN_HELP)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    sha256 = serializers.RegexField(
        SHA256,
        required=False,
        default=None,
        help_text="the `version.sha256` the signer was shown (document detail); 409 `stale_version` when it is "
        "no longer current. Without it the current version at decision time is recorded, marked as not "
        "confirmed by the client.",
    )


class ResubmitIn(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="the revised PDF; without it the same version goes again")
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DecisionIn(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    to_tier = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=1, max_value=1000)


class TemplateTierOut(serializers.Serializer):
    order = serializers.IntegerField()
    name = serializers.CharField()
    quorum = serializers.IntegerField(help_text="approvals needed; 0 = all signers")
    signers = serializers.SerializerMethodField()
    rule_position = serializers.CharField()
    due_hours = serializers.IntegerField()

    def get_signers(self, tier) -> list[str]:
        return [u.username for u in tier.signers.all()]


class WorkflowOut(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    document_type = serializers.CharField()
    pades_level = serializers.CharField()
    allow_multiple_seats = serializers.BooleanField()
    tiers = TemplateTierOut(many=True)


class InboxDocumentOut(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.CharField()
    urgency = serializers.CharField()
    confidentiality = serializers.CharField()
    requester = serializers.CharField(source="requester.username")
    created_at = serializers.DateTimeField()


class InboxItemOut(serializers.Serializer):
    document = InboxDocumentOut()
    tier = serializers.IntegerField(source="tier.order")
    tier_name = serializers.CharField(source="tier.name")
    field = serializers.CharField(source="field_name")
    assigned_at = serializers.DateTimeField(source="tier.activated_at", allow_null=True)
    due_at = serializers.DateTimeField(source="tier.due_at", allow_null=True)


class VersionOut(serializers.Serializer):
    number = serializers.IntegerField()
    kind = serializers.CharField()
    sha256 = serializers.CharField()
    size = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class ApproveChallengeIn(serializers.Serializer):
    sha256 = serializers.RegexField(
        SHA256, required=False, default=None, help_text="the `version.sha256` the signer was shown"
    )


class BatchChallengeIn(serializers.Serializer):
    documents = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=100
    )
    sha256 = serializers.DictField(child=serializers.RegexField(SHA256), required=False, default=dict)


class PasskeyOptionsOut(serializers.Serializer):
    publicKey = serializers.DictField(  # noqa: N815 - the WebAuthn name, handed to navigator.credentials.get
        help_text="PublicKeyCredentialRequestOptions (base64url challenge and credential ids): decode and pass "
        "to navigator.credentials.get({publicKey}); the challenge is valid once, for WEBAUTHN_CHALLENGE_SECONDS"
    )


class BatchIn(serializers.Serializer):
    documents = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1, max_length=100
    )
    otp = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    webauthn = serializers.DictField(required=False, default=None, allow_null=True, help_text=WEBAUTHN_HELP)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    sha256 = serializers.DictField(
        child=serializers.RegexField(SHA256),
        required=False,
        default=dict,
        help_text='{"41": "<version.sha256 shown>"}: per document, the version the signer was shown',
    )


class BatchErrorOut(serializers.Serializer):
    document = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="stable machine code of the refusal")


class BatchCreatedOut(serializers.Serializer):
    id = serializers.IntegerField()
    total = serializers.IntegerField(help_text="signatures queued")
    errors = BatchErrorOut(many=True, help_text="documents that could not be approved, and why")


class BatchRefusedOut(serializers.Serializer):
    detail = serializers.CharField()
    errors = BatchErrorOut(many=True)


class BatchProgressOut(serializers.Serializer):
    id = serializers.IntegerField()
    total = serializers.IntegerField()
    finished = serializers.IntegerField(help_text="done + failed")
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    waiting = serializers.IntegerField()
    done = serializers.IntegerField()
    failed = serializers.IntegerField()


DOCUMENT_EXAMPLE = OpenApiExample(
    "document",
    value={
        "id": 42,
        "title": "บันทึกข้อความ ขออนุมัติจัดซื้อ",
        "status": "in_progress",
        "workflow": "memo-2-tier",
        "requester": "requester",
        "pades_level": "B-LTA",
        "round": 1,
        "waiting_reason": "",
        "reference_no": "๑๒/๒๕๖๙",
        "urgency": "urgent",
        "confidentiality": "",
        "version": {
            "id": 101,
            "number": 1,
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        },
        "created_at": "2026-03-01T09:00:00+07:00",
        "completed_at": None,
        "tiers": [
            {
                "order": 1,
                "name": "หัวหน้างาน",
                "quorum": 2,
                "status": "active",
                "due_at": "2026-03-04T09:00:00+07:00",
                "assignments": [
                    {
                        "signer": "head1",
                        "signer_name": "นายสมชาย รักงาน",
                        "status": "pending",
                        "decided_by": None,
                        "decided_at": None,
                        "signed_at": None,
                        "comment": "",
                        "field": "Sig1_r1",
                        "page": 0,
                        "box": [36.0, 106.0, 206.0, 168.0],
                        "approved_sha256": "",
                        "signing_error": "",
                        "signing_error_code": "",
                    }
                ],
            }
        ],
    },
    response_only=True,
)

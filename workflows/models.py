"""Documents, their immutable versions, workflow templates and the routes that run them."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import AAL
from certificates.models import IAL
from signing.models import PadesLevel


class WorkflowTemplateManager(models.Manager):
    def get_by_natural_key(self, code: str) -> "WorkflowTemplate":
        return self.get(code=code)


class WorkflowTemplate(models.Model):
    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    document_type = models.CharField(_("document type"), max_length=100, blank=True, default="memo")
    pades_level = models.CharField(_("PAdES level"), max_length=8, choices=PadesLevel.choices, default=PadesLevel.B_LTA)
    min_aal = models.PositiveSmallIntegerField(
        _("minimum authenticator assurance (AAL)"),
        choices=AAL.choices,
        default=1,
        help_text=_("the signer's one-time code must come from a factor at least this strong"),
    )
    min_ial = models.PositiveSmallIntegerField(
        _("minimum identity proofing (IAL)"),
        choices=IAL.choices,
        default=1,
        help_text=_("the signer's certificate must record identity proofing at least this strong"),
    )
    allow_multiple_seats = models.BooleanField(
        _("allow seats in several tiers"),
        default=False,
        help_text=_("the same person may hold seats in more than one tier of a route"),
    )
    box_positions = models.JSONField(
        _("saved box positions"),
        default=list,
        blank=True,
        help_text=_(
            'signature boxes of an uploaded form of this kind, one {"page", "box"} per seat in route order; '
            "saved from the composer by an IT administrator, used when an upload brings no placements"
        ),
    )
    active = models.BooleanField(_("active"), default=True)

    objects = WorkflowTemplateManager()

    class Meta:
        verbose_name = _("workflow template")
        verbose_name_plural = _("workflow templates")

    def __str__(self) -> str:
        return f"{self.code}: {self.name}"

    def natural_key(self) -> tuple[str]:
        return (self.code,)


class TemplateTierManager(models.Manager):
    def get_by_natural_key(self, template_code: str, order: int) -> "TemplateTier":
        return self.get(template__code=template_code, order=order)


class TemplateTier(models.Model):
    template = models.ForeignKey(
        WorkflowTemplate, on_delete=models.CASCADE, related_name="tiers", verbose_name=_("workflow template")
    )
    order = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(_("name"), max_length=200)
    quorum = models.PositiveSmallIntegerField(
        _("quorum"), help_text=_("how many signers must approve; 0 = all of them")
    )
    signers = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+", verbose_name=_("signers"))
    rule_position = models.CharField(
        _("position rule"),
        max_length=200,
        blank=True,
        help_text=_("also add users holding this position (resolved at routing time)"),
    )
    rule_org_unit = models.ForeignKey(
        "accounts.OrgUnit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        help_text=_("restrict the position rule to this unit; empty = the requester's unit and its parents"),
        verbose_name=_("unit of the position rule"),
    )
    requester_signs = models.BooleanField(
        _("the requester signs this tier"),
        default=False,
        help_text=_("the requester holds this tier's seat and signs as the originator (ลงชื่อผู้เสนอ)"),
    )
    due_hours = models.PositiveIntegerField(_("hours allowed"), default=72)

    objects = TemplateTierManager()

    class Meta:
        verbose_name = _("template tier")
        verbose_name_plural = _("template tiers")
        ordering = ["template", "order"]
        constraints = [models.UniqueConstraint(fields=["template", "order"], name="one_tier_per_order")]

    def __str__(self) -> str:
        return f"{self.template.code} ขั้นที่ {self.order}: {self.name}"

    def natural_key(self) -> tuple[str, int]:
        return (*self.template.natural_key(), self.order)

    natural_key.dependencies = ["workflows.workflowtemplate"]


class DocumentStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", _("in progress")
    COMPLETED = "completed", _("completed")
    REJECTED = "rejected", _("rejected")
    RETURNED = "returned", _("returned for revision")
    RECALLED = "recalled", _("recalled")
    CANCELLED = "cancelled", _("cancelled")


class Urgency(models.TextChoices):
    """ชั้นความเร็ว of ระเบียบงานสารบรรณ; blank is ordinary."""

    MOST_URGENT = "most_urgent", "ด่วนที่สุด"
    VERY_URGENT = "very_urgent", "ด่วนมาก"
    URGENT = "urgent", "ด่วน"


class Confidentiality(models.TextChoices):
    """ชั้นความลับ; blank is not secret. A secret document is visible only to its route's participants."""

    TOP_SECRET = "top_secret", "ลับที่สุด"
    SECRET = "secret", "ลับมาก"
    CONFIDENTIAL = "confidential", "ลับ"


class SendRegister(models.Model):
    """ทะเบียนหนังสือส่ง: one counter row per org unit and Buddhist-era year; numbers are taken with the row
    locked (workflows.services.registers), so two memos never get the same number."""

    org_unit = models.ForeignKey(
        "accounts.OrgUnit", on_delete=models.PROTECT, related_name="send_registers", verbose_name=_("org unit")
    )
    year = models.PositiveSmallIntegerField(_("year (B.E.)"), help_text=_("Buddhist-era year, e.g. 2569"))
    prefix = models.CharField(
        _("prefix"),
        max_length=50,
        blank=True,
        help_text=_("written before the number, e.g. the unit's letters and digits กค 0401"),
    )
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("send register")
        verbose_name_plural = _("send registers")
        constraints = [models.UniqueConstraint(fields=["org_unit", "year"], name="one_send_register_per_unit_year")]

    def __str__(self) -> str:
        return f"ทะเบียนหนังสือส่ง {self.org_unit} {self.year}"


class Document(models.Model):
    title = models.CharField(_("title"), max_length=300)
    reference_no = models.CharField(
        _("memo number"),
        max_length=100,
        blank=True,
        help_text=_("ที่ … : the number written on the memo (from the send register)"),
    )
    urgency = models.CharField(
        _("urgency"), max_length=16, choices=Urgency.choices, blank=True, default="", db_index=True
    )
    confidentiality = models.CharField(
        _("confidentiality"), max_length=16, choices=Confidentiality.choices, blank=True, default=""
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="documents", verbose_name=_("requester")
    )
    template = models.ForeignKey(
        WorkflowTemplate, on_delete=models.PROTECT, related_name="documents", verbose_name=_("workflow template")
    )
    status = models.CharField(_("status"), max_length=16, choices=DocumentStatus.choices, db_index=True)
    pades_level = models.CharField(_("PAdES level"), max_length=8, choices=PadesLevel.choices)
    round = models.PositiveSmallIntegerField(
        _("round"), default=1, help_text=_("incremented when returned for revision")
    )
    waiting_reason = models.CharField(_("waiting reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    # The key of the public verification page (/v/<token>/) printed as a QR code on the memo: random, so
    # knowing or guessing a document's id reveals nothing (workflows/services/verification_link.py).
    verification_token = models.CharField(
        _("verification token"), max_length=32, unique=True, null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        indexes = [models.Index(fields=["requester", "-created_at"])]

    def __str__(self) -> str:
        return self.title


class DocumentVersion(models.Model):
    """An immutable PDF. Every signature adds a new version; the SHA-256 is checked when read."""

    class Kind(models.TextChoices):
        ORIGINAL = "original", _("original")
        REVISION = "revision", _("revision")
        SIGNED = "signed", _("signed")
        TIMESTAMPED = "timestamped", _("document timestamp")
        ARCHIVE = "archive", _("PDF/A-3 archive copy")

    document = models.ForeignKey(
        Document, on_delete=models.PROTECT, related_name="versions", verbose_name=_("document")
    )
    number = models.PositiveIntegerField(_("version"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    file = models.FileField(_("file"), upload_to="documents/%Y/%m/")
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    signing_job_id = models.BigIntegerField(_("signing job"), null=True, blank=True)

    class Meta:
        verbose_name = _("document version")
        verbose_name_plural = _("document versions")
        ordering = ["document", "number"]
        constraints = [models.UniqueConstraint(fields=["document", "number"], name="one_version_number")]

    def __str__(self) -> str:
        return f"{self.document} — ฉบับที่ {self.number}"


class TierStatus(models.TextChoices):
    PENDING = "pending", _("not open yet")
    ACTIVE = "active", _("open for decisions")
    COMPLETED = "completed", _("completed")
    CLOSED = "closed", _("closed (route ended)")


class RouteTier(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="tiers", verbose_name=_("document"))
    round = models.PositiveSmallIntegerField(_("round"), default=1)
    order = models.PositiveSmallIntegerField(_("order"))
    name = models.CharField(_("name"), max_length=200)
    quorum = models.PositiveSmallIntegerField(_("quorum"))
    status = models.CharField(_("status"), max_length=16, choices=TierStatus.choices, default=TierStatus.PENDING)
    activated_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    due_at = models.DateTimeField(_("due at"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    class Meta:
        verbose_name = _("route tier")
        verbose_name_plural = _("route tiers")
        ordering = ["document", "round", "order"]
        constraints = [models.UniqueConstraint(fields=["document", "round", "order"], name="one_tier_per_round_order")]

    def __str__(self) -> str:
        return f"{self.document} — ขั้นที่ {self.order} {self.name} (รอบที่ {self.round})"


class AssignmentStatus(models.TextChoices):
    PENDING = "pending", _("awaiting decision")
    APPROVED = "approved", _("approved (signature being made)")
    SIGNED = "signed", _("signed")
    REJECTED = "rejected", _("rejected")
    NOT_NEEDED = "not_needed", _("not needed")
    RETURNED = "returned", _("returned for revision")
    CANCELLED = "cancelled", _("cancelled")


class Assignment(models.Model):
    """A seat in a tier, held by one signer. The decision is recorded on it."""

    tier = models.ForeignKey(RouteTier, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("tier"))
    document = models.ForeignKey(
        Document, on_delete=models.CASCADE, related_name="assignments", verbose_name=_("document")
    )
    signer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments", verbose_name=_("signer")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=AssignmentStatus.choices, default=AssignmentStatus.PENDING, db_index=True
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("who actually decided (a delegate acting for the signer)"),
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    field_name = models.CharField(_("signature field"), max_length=100)
    page = models.PositiveIntegerField(_("page"), default=0)
    box = models.JSONField(_("signature box"), null=True, blank=True)
    signing_job_id = models.BigIntegerField(_("signing job"), null=True, blank=True, db_index=True)
    waiting_since = models.DateTimeField(
        _("waiting since"),
        null=True,
        blank=True,
        help_text=_("when the seat's tier opened; the inbox sorts on it (oldest first)"),
    )
    signed_at = models.DateTimeField(_("signed at"), null=True, blank=True)
    # What the signer approved: the version in front of them (sent back by the page or the API client, or
    # the current one at decision time when an API client did not send it; `version_confirmed` says which).
    # The signing job signs only this version, or it plus signatures dsign added since.
    approved_version = models.ForeignKey(
        DocumentVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approved version"),
    )
    approved_sha256 = models.CharField(_("SHA-256 of the approved version"), max_length=64, blank=True)
    version_confirmed = models.BooleanField(
        _("version confirmed by the signer's page"),
        default=False,
        help_text=_("the signer's page or client sent back the SHA-256 of the version it showed"),
    )
    signing_error_code = models.CharField(_("signing error code"), max_length=64, blank=True)
    signing_error = models.CharField(
        _("signing error"),
        max_length=500,
        blank=True,
        help_text=_("why the last signature for this seat failed (Thai); the seat reopened"),
    )

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["tier", "id"]
        constraints = [models.UniqueConstraint(fields=["tier", "signer"], name="one_seat_per_signer_per_tier")]
        indexes = [
            models.Index(fields=["signer", "status"]),
            models.Index(fields=["signer", "status", "waiting_since", "id"], name="assignment_inbox"),
            # "Decided by me", newest first, from one index.
            models.Index(fields=["decided_by", "-decided_at", "-id"], name="assignment_decided"),
        ]

    def __str__(self) -> str:
        return f"{self.signer.full_name_th} — {self.document}"


class Delegation(models.Model):
    """ปฏิบัติราชการแทน / รักษาราชการแทน: `delegate` may decide for `delegator` during the period."""

    class Kind(models.TextChoices):
        ACTING_FOR = "acting_for", "ปฏิบัติราชการแทน"
        STANDING_IN = "standing_in", "รักษาราชการแทน"

    delegator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="delegations_given",
        verbose_name=_("delegator"),
    )
    delegate = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_held", verbose_name=_("delegate")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.ACTING_FOR)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delegation")
        verbose_name_plural = _("delegations")

    def __str__(self) -> str:
        return f"{self.delegate.full_name_th} {self.get_kind_display()} {self.delegator.full_name_th}"


class Notification(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("user")
    )
    document = models.ForeignKey(Document, null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("document"))
    kind = models.CharField(_("kind"), max_length=32)
    message = models.CharField(_("message"), max_length=500)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.message


class DocumentAccess(models.Model):
    """Who may see which document, one row per (person, document): the lists read it from one index.

    Kept in the transactions that change who takes part (route start, a delegate's decision, a seat
    reassigned, a failed signature that reopens a delegate's seat; `workflows.services.access`). People
    acting for a delegator are not stored: their lists add the delegator's seat rows while the delegation
    runs, so a delegation that ends or is revoked hides the documents at once.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="access", verbose_name=_("document"))
    requester = models.BooleanField(_("requester"), default=False, help_text=_("the person requested the document"))
    seat = models.BooleanField(
        _("seat in the route"), default=False, help_text=_("the person holds, or decided, a seat in its route")
    )
    created_at = models.DateTimeField(
        _("created at"), help_text=_("the document's, copied: the lists sort on it, newest first")
    )

    class Meta:
        verbose_name = _("document access")
        verbose_name_plural = _("document access")
        constraints = [models.UniqueConstraint(fields=["user", "document"], name="one_access_per_user_document")]
        indexes = [models.Index(fields=["user", "-created_at", "-document"], name="access_newest")]

    def __str__(self) -> str:
        return f"ผู้ใช้ {self.user_id} เห็นเอกสาร {self.document_id}"

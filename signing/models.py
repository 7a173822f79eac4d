"""Signing jobs and the ledger of their attempts.

A job is created by the app that owns the document (workflows) in the same transaction as the decision it
serves; signing never imports that app. It finds the document through `handler`, a dotted path to a module
offering `signing_input`, `store_signed` and the job hooks (see signing.services.SubjectHandler).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.thai import format_thai_datetime


class PadesLevel(models.TextChoices):
    B_B = "B-B", "PAdES B-B"
    B_T = "B-T", _("PAdES B-T (timestamp)")
    B_LT = "B-LT", _("PAdES B-LT (long-term)")
    B_LTA = "B-LTA", _("PAdES B-LTA (archival)")


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    WAITING = "waiting", _("waiting to retry")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class JobKind(models.TextChoices):
    SIGNATURE = "signature", _("approval signature")
    DOCUMENT_TIMESTAMP = "document_timestamp", _("document timestamp (B-LTA)")


class SigningJob(models.Model):
    kind = models.CharField(_("kind"), max_length=24, choices=JobKind.choices, default=JobKind.SIGNATURE)
    status = models.CharField(
        _("status"), max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    handler = models.CharField(_("document handler"), max_length=200)
    subject_id = models.BigIntegerField(_("document number"), db_index=True)
    certificate_id = models.BigIntegerField(_("certificate"), null=True, blank=True)
    field_name = models.CharField(_("signature field"), max_length=100)
    page = models.PositiveIntegerField(_("page"), default=0)
    box = models.JSONField(
        _("signature box"), null=True, blank=True, help_text=_("[x1, y1, x2, y2] in PDF points; null = invisible")
    )
    appearance = models.JSONField(_("signature appearance"), default=dict, blank=True)
    level = models.CharField(_("PAdES level"), max_length=8, choices=PadesLevel.choices, default=PadesLevel.B_B)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    location = models.CharField(_("location"), max_length=200, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True, db_index=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(
        _("error message"), blank=True, help_text=_("why it failed or waits, in words a clerk understands")
    )
    result_sha256 = models.CharField(_("SHA-256 of the result"), max_length=64, blank=True)
    result_level = models.CharField(
        _("PAdES level reached"),
        max_length=8,
        blank=True,
        help_text=_("the PAdES level the signed result was checked to reach"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Signature activation data (signing/activation.py): what the signer needs to use the user's key.
    activation = models.TextField(_("signature activation data"), blank=True, default="")
    batch = models.ForeignKey(
        "SigningBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs", verbose_name=_("batch")
    )
    # Set when the route restarted on the version before this job's signature (workflows round_start): the
    # signature is no longer in the file, so its field may be signed again by a new decision.
    superseded_at = models.DateTimeField(_("superseded at"), null=True, blank=True)

    class Meta:
        verbose_name = _("signing job")
        verbose_name_plural = _("signing jobs")
        constraints = [
            # One signature field per document can only ever be signed by one live job. A failed job does
            # not count: its seat reopens and a new decision makes a new job for the same field; nor does a
            # superseded one (its signature was dropped with the version it was in).
            models.UniqueConstraint(
                fields=["handler", "subject_id", "field_name"],
                condition=~models.Q(status="failed") & models.Q(superseded_at__isnull=True),
                name="one_live_job_per_field",
            ),
        ]

    def __str__(self) -> str:
        return f"งานลงนาม #{self.pk} {self.get_kind_display()} {self.field_name} ({self.get_status_display()})"


class SigningAttempt(models.Model):
    """Ledger row written before each HSM/TSA call and completed after it."""

    class Outcome(models.TextChoices):
        STARTED = "started", _("started")
        SUCCESS = "success", _("success")
        TRANSIENT = "transient", _("transient error")
        PERMANENT = "permanent", _("permanent error")

    job = models.ForeignKey(
        SigningJob, on_delete=models.CASCADE, related_name="attempts_log", verbose_name=_("signing job")
    )
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.STARTED)
    error = models.TextField(_("error"), blank=True)
    worker_pid = models.IntegerField(_("worker process"), null=True)

    class Meta:
        verbose_name = _("signing attempt")
        verbose_name_plural = _("signing attempts")

    def __str__(self) -> str:
        return f"งานลงนาม #{self.job_id} — {format_thai_datetime(self.started_at)} ({self.get_outcome_display()})"


class SigningBatch(models.Model):
    """Several documents signed by one signer after one MFA step-up."""

    signer_id = models.BigIntegerField(_("signer"), db_index=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    total = models.PositiveIntegerField(_("documents"), default=0)

    class Meta:
        verbose_name = _("signing batch")
        verbose_name_plural = _("signing batches")

    def __str__(self) -> str:
        return f"ชุดการลงนาม #{self.pk} ({self.total} ฉบับ) — {format_thai_datetime(self.created_at)}"


class ActivationFactor(models.Model):
    """A user's MFA secret sealed for the signer (AES-GCM under a key in the users' token).

    The django-otp device keeps its row (name, throttling, confirmation) but its own secret is
    replaced by random bytes; only the signer can open ``sealed``, so this table is useless to
    anyone reading the database.
    """

    class Kind(models.TextChoices):
        TOTP = "totp", _("TOTP seed")
        STATIC = "static", _("backup code")
        ONCE = "once", _("e-mailed or SMS code")
        WEBAUTHN = "webauthn", _("passkey public key")

    user_id = models.BigIntegerField(_("user"), db_index=True)
    device = models.CharField(_("factor"), max_length=100, db_index=True, help_text=_("django-otp persistent id"))
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    sealed = models.TextField(_("sealed secret"))
    # For a static code: the django-otp StaticToken row standing in for it.
    token_id = models.BigIntegerField(_("backup code"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sealed factor")
        verbose_name_plural = _("sealed factors")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ของผู้ใช้ #{self.user_id}"

"""Signing jobs and the ledger of their attempts.

A job is created by the app that owns the document (workflows) in the same transaction as the decision it
serves; signing never imports that app. It finds the document through `handler`, a dotted path to a module
offering `signing_input`, `store_signed` and the job hooks (see signing.services.SubjectHandler).
"""

from django.db import models


class PadesLevel(models.TextChoices):
    B_B = "B-B", "PAdES B-B"
    B_T = "B-T", "PAdES B-T (timestamp)"
    B_LT = "B-LT", "PAdES B-LT (long-term)"
    B_LTA = "B-LTA", "PAdES B-LTA (archival)"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    WAITING = "waiting", "waiting to retry"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class JobKind(models.TextChoices):
    SIGNATURE = "signature", "approval signature"
    DOCUMENT_TIMESTAMP = "document_timestamp", "document timestamp (B-LTA)"


class SigningJob(models.Model):
    kind = models.CharField(max_length=24, choices=JobKind.choices, default=JobKind.SIGNATURE)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    handler = models.CharField(max_length=200)
    subject_id = models.BigIntegerField(db_index=True)
    certificate_id = models.BigIntegerField(null=True, blank=True)
    field_name = models.CharField(max_length=100)
    page = models.PositiveIntegerField(default=0)
    box = models.JSONField(null=True, blank=True, help_text="[x1, y1, x2, y2] in PDF points; null = invisible")
    appearance = models.JSONField(default=dict, blank=True)
    level = models.CharField(max_length=8, choices=PadesLevel.choices, default=PadesLevel.B_B)
    reason = models.CharField(max_length=300, blank=True)
    location = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True, help_text="why it failed or waits, in words a clerk understands")
    result_sha256 = models.CharField(max_length=64, blank=True)
    result_level = models.CharField(
        max_length=8, blank=True, help_text="the PAdES level the signed result was checked to reach"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Signature activation data (signing/activation.py): what the signer needs to use the user's key.
    activation = models.TextField(blank=True, default="")
    batch = models.ForeignKey("SigningBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs")
    # Set when the route restarted on the version before this job's signature (workflows round_start): the
    # signature is no longer in the file, so its field may be signed again by a new decision.
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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
        return f"job #{self.pk} {self.kind} {self.field_name} ({self.status})"


class SigningAttempt(models.Model):
    """Ledger row written before each HSM/TSA call and completed after it."""

    class Outcome(models.TextChoices):
        STARTED = "started", "started"
        SUCCESS = "success", "success"
        TRANSIENT = "transient", "transient error"
        PERMANENT = "permanent", "permanent error"

    job = models.ForeignKey(SigningJob, on_delete=models.CASCADE, related_name="attempts_log")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.STARTED)
    error = models.TextField(blank=True)
    worker_pid = models.IntegerField(null=True)


class SigningBatch(models.Model):
    """Several documents signed by one signer after one MFA step-up."""

    signer_id = models.BigIntegerField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    total = models.PositiveIntegerField(default=0)


class ActivationFactor(models.Model):
    """A user's MFA secret sealed for the signer (AES-GCM under a key in the users' token).

    The django-otp device keeps its row (name, throttling, confirmation) but its own secret is
    replaced by random bytes; only the signer can open ``sealed``, so this table is useless to
    anyone reading the database.
    """

    class Kind(models.TextChoices):
        TOTP = "totp", "TOTP seed"
        STATIC = "static", "backup code"
        ONCE = "once", "e-mailed or SMS code"
        WEBAUTHN = "webauthn", "passkey public key"

    user_id = models.BigIntegerField(db_index=True)
    device = models.CharField(max_length=100, db_index=True, help_text="django-otp persistent id")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    sealed = models.TextField()
    # For a static code: the django-otp StaticToken row standing in for it.
    token_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

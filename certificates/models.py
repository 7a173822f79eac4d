"""Certificate authorities, trust roots and the certificates of users (keys always in the token)."""

import hashlib

from asn1crypto import x509
from django.conf import settings
from django.db import models


class CertificateAuthority(models.Model):
    """The internal root and issuing CA, and the service identities they certify (OCSP responder, TSA)."""

    class Kind(models.TextChoices):
        ROOT = "root", "root CA"
        ISSUING = "issuing", "issuing CA"
        OCSP = "ocsp", "OCSP responder"
        TSA = "tsa", "timestamping authority"

    kind = models.CharField(max_length=16, choices=Kind.choices, unique=True)
    common_name = models.CharField(max_length=200)
    key_label = models.CharField(max_length=100, unique=True)
    certificate_der = models.BinaryField()
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT)
    crl_number = models.PositiveBigIntegerField(default=0)
    crl_der = models.BinaryField(null=True, blank=True)
    crl_next_update = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "certificate authorities"

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.common_name}"

    @property
    def certificate(self) -> x509.Certificate:
        return x509.Certificate.load(bytes(self.certificate_der))


class TrustRoot(models.Model):
    """A root that signatures and imported certificates may chain to (internal root, Thailand NRCA, ...)."""

    class Source(models.TextChoices):
        INTERNAL = "internal", "internal CA"
        NRCA = "nrca", "Thailand National Root CA"
        OTHER = "other", "other"

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.OTHER)
    certificate_der = models.BinaryField()
    fingerprint_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Four eyes: a root added by one CA officer is used for verification only once a second one approves.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.fingerprint_sha256 = hashlib.sha256(bytes(self.certificate_der)).hexdigest()
        super().save(*args, **kwargs)

    @property
    def approved(self) -> bool:
        return self.approved_at is not None

    @property
    def certificate(self) -> x509.Certificate:
        return x509.Certificate.load(bytes(self.certificate_der))


class CertificateStatus(models.TextChoices):
    AWAITING_ISSUANCE = "awaiting_issuance", "รอออกใบรับรอง / awaiting issuance (CSR sent)"
    PENDING_ACCEPTANCE = "pending_acceptance", "รอยอมรับข้อตกลง / pending acceptance"
    ACTIVE = "active", "ใช้งานได้ / active"
    EXPIRED = "expired", "หมดอายุ / expired"
    REVOKED = "revoked", "ถูกเพิกถอน / revoked"
    SUPERSEDED = "superseded", "ถูกแทนที่ / superseded"


class IAL(models.IntegerChoices):
    """How well the holder's identity was proofed before the certificate was issued (NIST SP 800-63A IAL;
    ETDA's guideline on identity proofing): set by the CA officer."""

    IAL1 = 1, "IAL1 — self-asserted / not proofed"
    IAL2 = 2, "IAL2 — identity document checked (remote or in person)"
    IAL3 = 3, "IAL3 — in person with the identity document and a biometric check"


class ProofingMethod(models.TextChoices):
    NONE = "", "not recorded"
    IN_PERSON = "in_person", "in person with the ID card"
    DOCUMENT_CHECK = "document_check", "identity document checked remotely"
    THAID = "thaid", "ThaID (DOPA digital ID)"
    NDID = "ndid", "NDID"
    DIRECTORY = "directory", "HR / directory record"


class Certificate(models.Model):
    """A user's certificate; its private key lives in the token under `key_label`.

    `purpose` "signing" (the default, key usage digitalSignature + nonRepudiation) signs documents;
    "encryption" (keyEncipherment, a separate RSA key that the token lets only decrypt) receives copies
    encrypted to its holder. Nothing that signs ever picks an encryption certificate, and the reverse.
    """

    class Source(models.TextChoices):
        INTERNAL = "internal", "internal CA"
        EXTERNAL = "external", "external CA (CSR)"
        PKCS12 = "pkcs12", "imported PKCS#12"

    class Purpose(models.TextChoices):
        SIGNING = "signing", "ลงนาม / signing"
        ENCRYPTION = "encryption", "เข้ารหัส / encryption"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="certificates")
    status = models.CharField(max_length=24, choices=CertificateStatus.choices, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.INTERNAL)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.SIGNING, db_index=True)
    key_label = models.CharField(max_length=100, unique=True)
    key_algorithm = models.CharField(max_length=16)
    serial_number = models.CharField(max_length=64, blank=True, db_index=True)
    subject_cn = models.CharField("subject", max_length=300, blank=True)
    issuer_cn = models.CharField("issuer", max_length=300, blank=True)
    issued_by = models.ForeignKey(CertificateAuthority, null=True, blank=True, on_delete=models.PROTECT)
    certificate_der = models.BinaryField(null=True, blank=True)
    chain_pem = models.TextField(blank=True, help_text="intermediate certificates, PEM")
    csr_pem = models.TextField(blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    agreement_token = models.CharField(max_length=64, blank=True)
    agreement_accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=32, blank=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    identity_proofing_level = models.PositiveSmallIntegerField(
        "identity proofing level", choices=IAL.choices, default=IAL.IAL1
    )
    identity_proofing_method = models.CharField(max_length=20, choices=ProofingMethod.choices, blank=True)
    identity_proofing_reference = models.CharField(
        max_length=200, blank=True, help_text="e.g. the ThaID/NDID transaction reference or the form number"
    )

    class Meta:
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.subject_cn or self.user} [{self.serial_number}]"

    @property
    def certificate(self) -> x509.Certificate | None:
        return x509.Certificate.load(bytes(self.certificate_der)) if self.certificate_der else None


class ExpiryNotice(models.Model):
    """Ledger of expiry warnings: one row per certificate and threshold, so each is sent exactly once."""

    certificate = models.ForeignKey(Certificate, on_delete=models.CASCADE, related_name="expiry_notices")
    days_before = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    attempted_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["certificate", "days_before"], name="one_notice_per_threshold")]

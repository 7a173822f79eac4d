"""Certificate authorities, trust roots and the certificates of users (keys always in the token)."""

import hashlib

from asn1crypto import x509
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class CertificateAuthority(models.Model):
    """The internal root and issuing CA, and the service identities they certify (OCSP responder, TSA)."""

    class Kind(models.TextChoices):
        ROOT = "root", _("root CA")
        ISSUING = "issuing", _("issuing CA")
        OCSP = "ocsp", _("OCSP responder")
        TSA = "tsa", _("timestamping authority")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, unique=True)
    common_name = models.CharField(_("common name (CN)"), max_length=200)
    key_label = models.CharField(_("key label in the token"), max_length=100, unique=True)
    certificate_der = models.BinaryField(_("certificate (DER)"))
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("parent unit"))
    crl_number = models.PositiveBigIntegerField(_("CRL number"), default=0)
    crl_der = models.BinaryField(_("CRL (DER)"), null=True, blank=True)
    crl_next_update = models.DateTimeField(_("next CRL due"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("certificate authority")
        verbose_name_plural = _("certificate authorities")

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.common_name}"

    @property
    def certificate(self) -> x509.Certificate:
        return x509.Certificate.load(bytes(self.certificate_der))


class TrustRoot(models.Model):
    """A root that signatures and imported certificates may chain to (internal root, Thailand NRCA, ...)."""

    class Source(models.TextChoices):
        INTERNAL = "internal", _("internal CA")
        NRCA = "nrca", _("Thailand National Root CA")
        OTHER = "other", _("other")

    name = models.CharField(_("name"), max_length=200)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.OTHER)
    certificate_der = models.BinaryField(_("certificate (DER)"))
    fingerprint_sha256 = models.CharField(_("SHA-256 fingerprint"), max_length=64, unique=True, editable=False)
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Four eyes: a root added by one CA officer is used for verification only once a second one approves.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("added by"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("trust root")
        verbose_name_plural = _("trust roots")

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
    AWAITING_ISSUANCE = "awaiting_issuance", _("awaiting issuance (CSR sent)")
    PENDING_ACCEPTANCE = "pending_acceptance", _("pending acceptance")
    ACTIVE = "active", _("active")
    EXPIRED = "expired", _("expired")
    REVOKED = "revoked", _("revoked")
    SUPERSEDED = "superseded", _("superseded")


class IAL(models.IntegerChoices):
    """How well the holder's identity was proofed before the certificate was issued (NIST SP 800-63A IAL;
    ETDA's guideline on identity proofing): set by the CA officer."""

    IAL1 = 1, _("IAL1 — self-asserted / not proofed")
    IAL2 = 2, _("IAL2 — identity document checked (remote or in person)")
    IAL3 = 3, _("IAL3 — in person with the identity document and a biometric check")


class ProofingMethod(models.TextChoices):
    NONE = "", _("not recorded")
    IN_PERSON = "in_person", _("in person with the ID card")
    DOCUMENT_CHECK = "document_check", _("identity document checked remotely")
    THAID = "thaid", _("ThaID (DOPA digital ID)")
    NDID = "ndid", "NDID"
    DIRECTORY = "directory", _("HR / directory record")


class Certificate(models.Model):
    """A user's certificate; its private key lives in the token under `key_label`.

    `purpose` "signing" (the default, key usage digitalSignature + nonRepudiation) signs documents;
    "encryption" (keyEncipherment, a separate RSA key that the token lets only decrypt) receives copies
    encrypted to its holder. Nothing that signs ever picks an encryption certificate, and the reverse.
    """

    class Source(models.TextChoices):
        INTERNAL = "internal", _("internal CA")
        EXTERNAL = "external", _("external CA (CSR)")
        PKCS12 = "pkcs12", _("imported PKCS#12")

    class Purpose(models.TextChoices):
        SIGNING = "signing", _("signing")
        ENCRYPTION = "encryption", _("encryption")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="certificates", verbose_name=_("user")
    )
    status = models.CharField(_("status"), max_length=24, choices=CertificateStatus.choices, db_index=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.INTERNAL)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.SIGNING, db_index=True
    )
    key_label = models.CharField(_("key label in the token"), max_length=100, unique=True)
    key_algorithm = models.CharField(_("key algorithm"), max_length=16)
    serial_number = models.CharField(_("serial number"), max_length=64, blank=True, db_index=True)
    subject_cn = models.CharField(_("subject"), max_length=300, blank=True)
    issuer_cn = models.CharField(_("issuer"), max_length=300, blank=True)
    issued_by = models.ForeignKey(
        CertificateAuthority, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("issued by")
    )
    certificate_der = models.BinaryField(_("certificate (DER)"), null=True, blank=True)
    chain_pem = models.TextField(
        _("certificate chain (PEM)"), blank=True, help_text=_("intermediate certificates, PEM")
    )
    csr_pem = models.TextField(_("certificate request (CSR, PEM)"), blank=True)
    not_before = models.DateTimeField(_("valid from"), null=True, blank=True)
    not_after = models.DateTimeField(_("valid until"), null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    agreement_token = models.CharField(_("agreement token"), max_length=64, blank=True)
    agreement_accepted_at = models.DateTimeField(_("agreement accepted at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revocation_reason = models.CharField(_("revocation reason"), max_length=32, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, verbose_name=_("superseded by")
    )
    identity_proofing_level = models.PositiveSmallIntegerField(
        _("identity proofing level"), choices=IAL.choices, default=IAL.IAL1
    )
    identity_proofing_method = models.CharField(
        _("identity proofing method"), max_length=20, choices=ProofingMethod.choices, blank=True
    )
    identity_proofing_reference = models.CharField()
    identity_proofing_reference = models.CharField(
        _("identity proofing reference"),
        max_length=200,
        blank=True,
        help_text=_("e.g. the ThaID/NDID transaction reference or the form number"),
    )

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        indexes = [models.Index(fields=["user", "status"])]

    def __str__(self) -> str:
        return f"{self.subject_cn or self.user} [{self.serial_number}]"

    @property
    def certificate(self) -> x509.Certificate | None:
        return x509.Certificate.load(bytes(self.certificate_der)) if self.certificate_der else None


class ExpiryNotice(models.Model):
    """Ledger of expiry warnings: one row per certificate and threshold, so each is sent exactly once."""

    certificate = models.ForeignKey(
        Certificate, on_delete=models.CASCADE, related_name="expiry_notices", verbose_name=_("certificate")
    )
    days_before = models.IntegerField(_("days before expiry"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    attempted_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("expiry notice")
        verbose_name_plural = _("expiry notices")
        constraints = [models.UniqueConstraint(fields=["certificate", "days_before"], name="one_notice_per_threshold")]

    def __str__(self) -> str:
        return f"{self.certificate} — แจ้งล่วงหน้า {self.days_before} วัน"

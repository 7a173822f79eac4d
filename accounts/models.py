"""Identity: users with Thai and English names, the organisation tree, SMS devices, step-ups, login history."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_otp.models import CooldownMixin, Device, SideChannelDevice, ThrottlingMixin, TimestampMixin

from audit.models import Event
from core import roles
from core.thai import format_thai_datetime


class OrgUnitManager(models.Manager):
    def get_by_natural_key(self, code: str) -> "OrgUnit":
        return self.get(code=code)


class OrgUnit(models.Model):
    """A ministry, department, division or section; units form a tree."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name_th = models.CharField(_("unit name"), max_length=200)
    name_en = models.CharField(_("name in English"), max_length=200, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name=_("parent unit")
    )

    objects = OrgUnitManager()

    class Meta:
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name_th

    def natural_key(self) -> tuple[str]:
        return (self.code,)

    def ancestors(self) -> list["OrgUnit"]:
        chain, node = [], self.parent
        while node is not None and node not in chain:
            chain.append(node)
            node = node.parent
        return chain


class AAL(models.IntegerChoices):
    """Authenticator assurance of a factor (NIST SP 800-63B; ETDA's identity guideline uses the same three).

    1: a code sent over a channel others can intercept or phish (SMS, e-mail) or a printed backup code;
    2: a code from an authenticator the user holds (TOTP app); 3: a phishing-resistant authenticator bound
    to the site (a passkey / FIDO2 security key).
    """

    AAL1 = 1, _("AAL1 — SMS, e-mail or backup code")
    AAL2 = 2, _("AAL2 — authenticator app (TOTP)")
    AAL3 = 3, _("AAL3 — passkey / security key")


class Role(models.TextChoices):
    """Roles are Django groups with these names (core.roles, the one list); admin permissions hang off the groups."""

    OFFICE_USER = roles.OFFICE_USER, _("office user")
    CA_OFFICER = roles.CA_OFFICER, _("CA officer")
    IT_ADMIN = roles.IT_ADMIN, _("IT admin")
    AUDITOR = roles.AUDITOR, _("auditor")


class User(AbstractUser):
    # first_name / last_name (from AbstractUser) hold the English names.
    title_th = models.CharField(_("name title"), max_length=50, blank=True)
    first_name_th = models.CharField(_("first name"), max_length=150, blank=True)
    last_name_th = models.CharField(_("last name"), max_length=150, blank=True)
    title_en = models.CharField(_("name title in English"), max_length=50, blank=True)
    position = models.CharField(_("position"), max_length=200, blank=True)
    org_unit = models.ForeignKey(
        OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="members", verbose_name=_("org unit")
    )
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    signature_image = models.FileField(_("signature image"), upload_to="signature-images/", null=True, blank=True)

    @property
    def full_name_th(self) -> str:
        name = f"{self.first_name_th} {self.last_name_th}".strip()
        if not name:
            return self.full_name_en or self.username
        return f"{self.title_th}{name}"

    @property
    def full_name_en(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{self.title_en} {name}".strip() if name else ""

    def has_role(self, role: str) -> bool:
        """Membership of the role's group itself (core.roles.has_role also counts superusers)."""
        return self.groups.filter(name=role).exists()

    def __str__(self) -> str:
        return f"{self.full_name_th} ({self.username})"


class SMSDevice(TimestampMixin, CooldownMixin, ThrottlingMixin, SideChannelDevice):
    """A phone that receives one-time codes by SMS through accounts.sms (django-otp side-channel device)."""

    phone = models.CharField(_("mobile phone"), max_length=30)

    class Meta(SideChannelDevice.Meta):
        verbose_name_plural = _("SMS devices")
        verbose_name = _("SMS device")

    def generate_challenge(self) -> str:
        allowed, data = self.generate_is_allowed()
        if not allowed:
            raise ChallengeRefused(
                "A code was sent a moment ago; wait before asking for another "
                f"(next at {_local_hhmm(data['next_generation_at'])})."
            )
        from .sms import send_sms

        self.cooldown_set(commit=False)
        self.generate_token(valid_secs=settings.MFA_CODE_VALIDITY_SECONDS, commit=True)
        send_sms(phone=self.phone, text=f"dsign: รหัสยืนยัน / code {self.token}")
        return "sent by SMS"

    def verify_token(self, token) -> bool:
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        verified = super().verify_token(token)
        if verified:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
        else:
            self.throttle_increment()
        return verified

    def get_cooldown_duration(self) -> int:
        return getattr(settings, "SMS_COOLDOWN_SECONDS", 30)

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)


class ChallengeRefused(Exception):
    """A code cannot be sent now (cooldown, no address); the message says why."""


def _local_hhmm(moment) -> str:
    from django.utils import timezone

    return timezone.localtime(moment).strftime("%H:%M:%S")


class StepUp(models.Model):
    """The user's latest successful MFA step-up (a record for operators; each approval needs its own code)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="step_up", verbose_name=_("user"))
    verified_at = models.DateTimeField(_("verified at"))
    purpose = models.CharField(_("purpose"), max_length=40)
    device = models.CharField(_("factor"), max_length=100)
    # Set when the step-up happened in a browser session: that session alone may rely on it.
    session_key = models.CharField(_("session"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("step-up")
        verbose_name_plural = _("step-ups")

    def __str__(self) -> str:
        return f"{self.user.username} — {format_thai_datetime(self.verified_at)}"


class LoginEvent(Event):
    """Sign-ins and failed sign-ins: the audit events `accounts.login` and `accounts.login_failed`."""

    ACTIONS = (
        "accounts.login",
        "accounts.login_failed",
        "accounts.logout",
        "accounts.locked_out",
        "accounts.login_unlocked",
    )

    class Meta:
        proxy = True
        verbose_name = _("sign-in record")
        verbose_name_plural = _("login history")


class ApiToken(models.Model):
    """A personal API token (`Authorization: Token KEY`): only the SHA-256 of the key is kept.

    Keys are 160-bit random hex strings, so a slow hash adds nothing; `key_prefix` (the first 8
    characters) finds the row and names the token in lists and the audit log without revealing it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens", verbose_name=_("user")
    )
    key_prefix = models.CharField(_("key prefix"), max_length=8, db_index=True)
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("revocation reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.key_prefix}… ({self.user.username})"


class ExternalIdentity(models.Model):
    """Which directory or identity-provider account signs in as which user.

    OIDC: the issuer and the subject (`oid` on Entra ID, else `sub`); LDAP: the directory's objectGUID or
    entryUUID, else the DN. Never the username: an IdP account called `admin` is not the local admin.
    A link is made when the identity first creates its user, or by an administrator in the admin.
    """

    class Provider(models.TextChoices):
        OIDC = "oidc", "OpenID Connect"
        LDAP = "ldap", "LDAP / Active Directory"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities", verbose_name=_("user")
    )
    provider = models.CharField(_("provider"), max_length=8, choices=Provider.choices)
    issuer = models.CharField(_("issuer"), max_length=300, blank=True)
    subject = models.CharField(_("subject identifier"), max_length=300)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_login_at = models.DateTimeField(_("last sign-in at"), null=True, blank=True)

    class Meta:
        verbose_name = _("external identity")
        verbose_name_plural = _("external identities")
        constraints = [
            models.UniqueConstraint(fields=["provider", "issuer", "subject"], name="one_user_per_external_identity")
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.issuer} {self.subject} → {self.user.username}"


class EnrolmentCode(models.Model):
    """A one-time code an admin has sent a user (never shown to the admin) to enrol a first MFA device."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrolment_codes", verbose_name=_("user"))
    code_sha256 = models.CharField(_("SHA-256 of the code"), max_length=64)
    issued_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("issued by")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name_plural = _("MFA enrolment codes")
        verbose_name = _("MFA enrolment code")

    def __str__(self) -> str:
        return f"{self.user.username} — ใช้ได้ถึง {format_thai_datetime(self.expires_at)}"


class PendingEnrolment(models.Model):
    """An unconfirmed device whose enrolment was authorised (by a code from an existing factor, the
    first-enrolment window or an enrolment code); confirming it then needs only the new device's code."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="pending_enrolments", verbose_name=_("user"))
    device_id = models.CharField(_("factor"), max_length=100, unique=True)
    authorised_by = models.CharField(_("authorised by"), max_length=120)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("pending enrolment")
        verbose_name_plural = _("pending enrolments")

    def __str__(self) -> str:
        return f"{self.user.username}: {self.device_id}"


class WebAuthnDevice(TimestampMixin, Device):
    """A passkey or FIDO2 security key (WebAuthn credential) registered by the user: AAL3, phishing-resistant.

    Only the credential's public key is kept (COSE, base64url); the signer keeps a sealed copy and its own
    sign counter, so altering this row cannot make a foreign key activate a signature. It has no codes:
    `verify_token` refuses everything; assertions are checked by accounts.services.passkeys.
    """

    credential_id = models.CharField(_("credential ID"), max_length=1400, unique=True, help_text=_("base64url encoded"))
    public_key = models.TextField(_("public key"), help_text=_("COSE public key, base64url"))
    sign_count = models.PositiveBigIntegerField(_("sign count"), default=0)
    aaguid = models.CharField(_("authenticator model (AAGUID)"), max_length=36, blank=True)
    transports = models.JSONField(_("transports"), default=list, blank=True)
    backed_up = models.BooleanField(_("backed up (synced passkey)"), default=False)

    class Meta(Device.Meta):
        verbose_name = _("passkey")
        verbose_name_plural = _("passkeys")

    def verify_token(self, token) -> bool:
        return False


class PasskeyChallenge(models.Model):
    """A WebAuthn challenge handed to one user in one session (or to one API client: no session), for one
    purpose and binding; it is answered once, before `expires_at`."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkey_challenges", verbose_name=_("user"))
    challenge_sha256 = models.CharField(_("challenge SHA-256"), max_length=64, unique=True)
    purpose = models.CharField(_("purpose"), max_length=40)
    binding = models.TextField(_("binding"))
    session_key = models.CharField(_("session"), max_length=64, blank=True)
    # A registration's authorisation (the factor or first-enrolment rule that allowed it).
    authorised_by = models.CharField(_("authorised by"), max_length=120, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("passkey challenge")
        verbose_name_plural = _("passkey challenges")

    def __str__(self) -> str:
        return f"{self.user.username}: {self.purpose} ใช้ได้ถึง {format_thai_datetime(self.expires_at)}"

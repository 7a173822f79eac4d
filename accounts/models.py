"""Identity: users with Thai and English names, the organisation tree, SMS devices, step-ups, login history."""

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django_otp.models import CooldownMixin, Device, SideChannelDevice, ThrottlingMixin, TimestampMixin

from audit.models import Event
from core import roles


class OrgUnitManager(models.Manager):
    def get_by_natural_key(self, code: str) -> "OrgUnit":
        return self.get(code=code)


class OrgUnit(models.Model):
    """A ministry, department, division or section; units form a tree."""

    code = models.SlugField(max_length=50, unique=True)
    name_th = models.CharField("ชื่อหน่วยงาน", max_length=200)
    name_en = models.CharField("name (English)", max_length=200, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    objects = OrgUnitManager()

    class Meta:
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

    AAL1 = 1, "AAL1 — SMS, e-mail or backup code"
    AAL2 = 2, "AAL2 — authenticator app (TOTP)"
    AAL3 = 3, "AAL3 — passkey / security key"


class Role(models.TextChoices):
    """Roles are Django groups with these names (core.roles, the one list); admin permissions hang off the groups."""

    OFFICE_USER = roles.OFFICE_USER, "ผู้ใช้งานทั่วไป / office user"
    CA_OFFICER = roles.CA_OFFICER, "เจ้าหน้าที่ CA / CA officer"
    IT_ADMIN = roles.IT_ADMIN, "ผู้ดูแลระบบ / IT admin"
    AUDITOR = roles.AUDITOR, "ผู้ตรวจสอบ / auditor"


class User(AbstractUser):
    # first_name / last_name (from AbstractUser) hold the English names.
    title_th = models.CharField("คำนำหน้า", max_length=50, blank=True)
    first_name_th = models.CharField("ชื่อ", max_length=150, blank=True)
    last_name_th = models.CharField("นามสกุล", max_length=150, blank=True)
    title_en = models.CharField("title (English)", max_length=50, blank=True)
    position = models.CharField("ตำแหน่ง", max_length=200, blank=True)
    org_unit = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="members")
    phone = models.CharField("โทรศัพท์", max_length=30, blank=True)
    signature_image = models.FileField(upload_to="signature-images/", null=True, blank=True)

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

    phone = models.CharField("โทรศัพท์มือถือ / mobile", max_length=30)

    class Meta(SideChannelDevice.Meta):
        verbose_name = "SMS device"

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

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="step_up")
    verified_at = models.DateTimeField()
    purpose = models.CharField(max_length=40)
    device = models.CharField(max_length=100)
    # Set when the step-up happened in a browser session: that session alone may rely on it.
    session_key = models.CharField(max_length=40, blank=True)

    def __str__(self) -> str:
        return f"{self.user.username} at {self.verified_at:%Y-%m-%d %H:%M:%S}"


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
        verbose_name = "sign-in record"
        verbose_name_plural = "login history"


class ApiToken(models.Model):
    """A personal API token (`Authorization: Token KEY`): only the SHA-256 of the key is kept.

    Keys are 160-bit random hex strings, so a slow hash adds nothing; `key_prefix` (the first 8
    characters) finds the row and names the token in lists and the audit log without revealing it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
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

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identities")
    provider = models.CharField(max_length=8, choices=Provider.choices)
    issuer = models.CharField(max_length=300, blank=True)
    subject = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "external identities"
        constraints = [
            models.UniqueConstraint(fields=["provider", "issuer", "subject"], name="one_user_per_external_identity")
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.issuer} {self.subject} → {self.user.username}"


class EnrolmentCode(models.Model):
    """A one-time code an admin has sent a user (never shown to the admin) to enrol a first MFA device."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="enrolment_codes")
    code_sha256 = models.CharField(max_length=64)
    issued_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "MFA enrolment code"

    def __str__(self) -> str:
        return f"{self.user.username} until {self.expires_at:%Y-%m-%d %H:%M}"


class PendingEnrolment(models.Model):
    """An unconfirmed device whose enrolment was authorised (by a code from an existing factor, the
    first-enrolment window or an enrolment code); confirming it then needs only the new device's code."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="pending_enrolments")
    device_id = models.CharField(max_length=100, unique=True)
    authorised_by = models.CharField(max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user.username}: {self.device_id}"


class WebAuthnDevice(TimestampMixin, Device):
    """A passkey or FIDO2 security key (WebAuthn credential) registered by the user: AAL3, phishing-resistant.

    Only the credential's public key is kept (COSE, base64url); the signer keeps a sealed copy and its own
    sign counter, so altering this row cannot make a foreign key activate a signature. It has no codes:
    `verify_token` refuses everything; assertions are checked by accounts.services.passkeys.
    """

    credential_id = models.CharField(max_length=1400, unique=True, help_text="base64url")
    public_key = models.TextField(help_text="COSE public key, base64url")
    sign_count = models.PositiveBigIntegerField(default=0)
    aaguid = models.CharField(max_length=36, blank=True)
    transports = models.JSONField(default=list, blank=True)
    backed_up = models.BooleanField(default=False)

    class Meta(Device.Meta):
        verbose_name = "passkey"

    def verify_token(self, token) -> bool:
        return False


class PasskeyChallenge(models.Model):
    """A WebAuthn challenge handed to one user in one session (or to one API client: no session), for one
    purpose and binding; it is answered once, before `expires_at`."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="passkey_challenges")
    challenge_sha256 = models.CharField(max_length=64, unique=True)
    purpose = models.CharField(max_length=40)
    binding = models.TextField()
    session_key = models.CharField(max_length=64, blank=True)
    # A registration's authorisation (the factor or first-enrolment rule that allowed it).
    authorised_by = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.user.username}: {self.purpose} until {self.expires_at:%H:%M:%S}"

"""Identity: users with Thai and English names, and the organisation tree they belong to."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class OrgUnit(models.Model):
    """A ministry, department, division or section; units form a tree."""

    code = models.SlugField(max_length=50, unique=True)
    name_th = models.CharField("ชื่อหน่วยงาน", max_length=200)
    name_en = models.CharField("name (English)", max_length=200, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name_th

    def ancestors(self) -> list["OrgUnit"]:
        chain, node = [], self.parent
        while node is not None and node not in chain:
            chain.append(node)
            node = node.parent
        return chain


class Role(models.TextChoices):
    """Roles are Django groups with these names; admin permissions hang off the groups."""

    OFFICE_USER = "office_user", "ผู้ใช้งานทั่วไป / office user"
    CA_OFFICER = "ca_officer", "เจ้าหน้าที่ CA / CA officer"
    IT_ADMIN = "it_admin", "ผู้ดูแลระบบ / IT admin"
    AUDITOR = "auditor", "ผู้ตรวจสอบ / auditor"


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
        return self.groups.filter(name=role).exists()

    def __str__(self) -> str:
        return f"{self.full_name_th} ({self.username})"

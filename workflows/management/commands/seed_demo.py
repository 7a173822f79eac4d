"""Demo data of DESIGN.md: users, org units, certificates, the memo-2-tier template. Never in production."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import OrgUnit, Role, User
from accounts.roles import roles_sync
from certificates import services as certificate_services
from certificates.selectors import certificate_for_signing
from signing.models import PadesLevel
from workflows.models import TemplateTier, WorkflowTemplate

PASSWORD = "demo-pass-2026"

PEOPLE = [
    # username, title, first_th, last_th, first_en, last_en, position, unit, role
    ("requester", "นางสาว", "สมหญิง", "ใจดี", "Somying", "Jaidee", "นักวิชาการคอมพิวเตอร์", "it", Role.OFFICE_USER),
    ("head1", "นาย", "สมชาย", "รักงาน", "Somchai", "Rakngan", "ผู้อำนวยการกองเทคโนโลยีสารสนเทศ", "it", Role.OFFICE_USER),
    ("head2", "นาง", "วิไล", "ศรีสุข", "Wilai", "Srisuk", "ผู้อำนวยการกองคลัง", "finance", Role.OFFICE_USER),
    ("head3", "นาย", "ประเสริฐ", "มั่นคง", "Prasert", "Mankong", "ผู้อำนวยการกองการเจ้าหน้าที่", "hr", Role.OFFICE_USER),
    ("director", "นาย", "ธนากร", "เลิศวิริยะ", "Thanakorn", "Lertwiriya", "ผู้อำนวยการ", "hq", Role.OFFICE_USER),
    ("auditor", "นางสาว", "อรวรรณ", "ตรงไปตรงมา", "Orawan", "Trongpaitrongma", "ผู้ตรวจสอบภายใน", "hq", Role.AUDITOR),
    ("admin", "นาย", "ผู้ดูแล", "ระบบ", "System", "Admin", "ผู้ดูแลระบบ", "it", Role.IT_ADMIN),
]
UNITS = [
    ("hq", "สำนักงานผู้อำนวยการ", "Director's Office", None),
    ("it", "กองเทคโนโลยีสารสนเทศ", "IT Division", "hq"),
    ("finance", "กองคลัง", "Finance Division", "hq"),
    ("hr", "กองการเจ้าหน้าที่", "HR Division", "hq"),
]


class Command(BaseCommand):
    help = "Load the demo users, certificates and workflow template (idempotent; refused in production)."

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_demo is refused in production (DSIGN_PRODUCTION is set).")
        roles_sync()
        with transaction.atomic():
            users = self._people()
            self._template(users)
        for user in users.values():
            if certificate_for_signing(user=user) is None:
                certificate_services.certificate_issue(user=user, actor=None, accept_now=True)
        self.stdout.write("demo data ready: users " + ", ".join(users) + f" / password {PASSWORD}")

    def _people(self) -> dict[str, User]:
        units = {}
        for code, name_th, name_en, parent in UNITS:
            units[code], _ = OrgUnit.objects.update_or_create(
                code=code, defaults={"name_th": name_th, "name_en": name_en, "parent": units.get(parent)}
            )
        from django.contrib.auth.models import Group

        users = {}
        for username, title, first_th, last_th, first_en, last_en, position, unit, role in PEOPLE:
            user, created = User.objects.update_or_create(
                username=username,
                defaults={
                    "title_th": title,
                    "first_name_th": first_th,
                    "last_name_th": last_th,
                    "first_name": first_en,
                    "last_name": last_en,
                    "position": position,
                    "org_unit": units[unit],
                    "email": f"{username}@dsign.example",
                    "is_staff": username in ("admin", "auditor"),
                    "is_superuser": username == "admin",
                },
            )
            if created:
                user.set_password(PASSWORD)
                user.save(update_fields=["password"])
            user.groups.add(Group.objects.get(name=role))
            users[username] = user
        return users

    def _template(self, users: dict[str, User]) -> None:
        template, _ = WorkflowTemplate.objects.update_or_create(
            code="memo-2-tier",
            defaults={
                "name": "บันทึกข้อความ 2 ระดับ (2 ใน 3 ผู้อำนวยการกอง แล้ว ผู้อำนวยการ)",
                "document_type": "memo",
                "pades_level": PadesLevel.B_LTA,
            },
        )
        tier1, _ = TemplateTier.objects.update_or_create(
            template=template, order=1, defaults={"name": "ผู้อำนวยการกอง", "quorum": 2}
        )
        tier1.signers.set([users["head1"], users["head2"], users["head3"]])
        tier2, _ = TemplateTier.objects.update_or_create(
            template=template, order=2, defaults={"name": "ผู้อำนวยการ", "quorum": 1}
        )
        tier2.signers.set([users["director"]])

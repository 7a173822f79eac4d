"""The send register (ทะเบียนหนังสือส่ง): the next number of an org unit's year, ที่ กค ๐๔๐๑/๑๒/๒๕๖๙ style.

The counter row is created if missing (INSERT … ON CONFLICT DO NOTHING, so two first memos of a year do not
collide) and then locked with SELECT … FOR UPDATE; the number is taken in the caller's transaction, so a
route that fails to start gives its number back and the register has no gaps.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import OrgUnit
from core.thai import BUDDHIST_ERA_OFFSET, thai_digits

from ..errors import InvalidDocument
from ..models import SendRegister


def register_number_take(*, org_unit: OrgUnit | None, on=None) -> str:
    """Take the next number of `org_unit`'s send register for the Buddhist-era year of `on` (today)."""
    if org_unit is None:
        raise InvalidDocument(
            _("You belong to no organisation unit, so there is no send register to number the memo; give a number."),
            code="no_register",
        )
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("register_number_take must run inside the transaction that stores the document")
    year = (on or timezone.localdate()).year + BUDDHIST_ERA_OFFSET
    SendRegister.objects.bulk_create([SendRegister(org_unit=org_unit, year=year)], ignore_conflicts=True)
    register = SendRegister.objects.select_for_update().get(org_unit=org_unit, year=year)
    register.last_number += 1
    register.save(update_fields=["last_number"])
    return register_number_format(prefix=register.prefix, number=register.last_number, year=year)


def register_number_format(*, prefix: str, number: int, year: int) -> str:
    text = f"{thai_digits(number)}/{thai_digits(year)}"
    return f"{prefix.strip()} {text}".strip() if prefix.strip() else text

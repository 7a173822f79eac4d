"""Every recurring job is registered once, names an importable task, and does not fire at install time."""

from datetime import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.models import Schedule

from dsign.management.commands.register_schedules import first_run
from dsign.schedules import SCHEDULES

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("item", SCHEDULES, ids=lambda item: item.func)
def test_each_schedule_names_a_task_that_exists(item):
    assert callable(import_string(item.func))


def test_registering_twice_keeps_one_row_each_and_the_next_run():
    call_command("register_schedules", verbosity=0)
    first = dict(Schedule.objects.values_list("name", "next_run"))
    call_command("register_schedules", verbosity=0)
    assert dict(Schedule.objects.values_list("name", "next_run")) == first
    assert Schedule.objects.count() == len(SCHEDULES)


def test_monthly_and_daily_jobs_wait_for_their_slot():
    now = timezone.make_aware(datetime(2026, 12, 15, 10, 30))
    assert first_run(Schedule.MONTHLY, now) == timezone.make_aware(datetime(2027, 1, 1, 6, 0))
    assert first_run(Schedule.DAILY, now) == timezone.make_aware(datetime(2026, 12, 16, 2, 0))
    assert first_run(Schedule.MINUTES, now) == now

from datetime import datetime, time, timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone
from django_q.models import Schedule

from dsign.schedules import SCHEDULES


def first_run(schedule_type: str, now: datetime) -> datetime:
    """Minute jobs start now; hourly in an hour; daily at 02:00 local; monthly on the 1st at 06:00 local.

    So a fresh installation does not send the monthly report or expiry e-mails the moment it starts.
    """
    local = timezone.localtime(now)
    if schedule_type == Schedule.HOURLY:
        return now + timedelta(hours=1)
    if schedule_type == Schedule.DAILY:
        return timezone.make_aware(datetime.combine(local.date() + timedelta(days=1), time(2, 0)))
    if schedule_type == Schedule.MONTHLY:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        return timezone.make_aware(datetime(year, month, 1, 6, 0))
    return now


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of dsign (idempotent; keeps the next run of existing ones)."

    def handle(self, *args, **options):
        now = timezone.now()
        for item in SCHEDULES:
            schedule, created = Schedule.objects.update_or_create(
                name=item.name,
                defaults={
                    "func": item.func,
                    "schedule_type": item.schedule_type,
                    "minutes": item.minutes,
                    "repeats": -1,
                },
            )
            if created or schedule.next_run is None:
                Schedule.objects.filter(pk=schedule.pk).update(next_run=first_run(item.schedule_type, now))
        Schedule.objects.filter(func__in=[s.func for s in SCHEDULES]).exclude(
            name__in=[s.name for s in SCHEDULES]
        ).delete()
        self.stdout.write(f"{len(SCHEDULES)} schedules registered")

from django.core.management.base import BaseCommand
from django.utils import timezone
from django_q.models import Schedule

from dsign.schedules import SCHEDULES


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules of dsign (idempotent)."

    def handle(self, *args, **options):
        for item in SCHEDULES:
            Schedule.objects.update_or_create(
                name=item.name,
                defaults={
                    "func": item.func,
                    "schedule_type": item.schedule_type,
                    "minutes": item.minutes,
                    "repeats": -1,
                },
            )
            Schedule.objects.filter(name=item.name, next_run__isnull=True).update(next_run=timezone.now())
        self.stdout.write(f"{len(SCHEDULES)} schedules registered")

"""The admin pages of installed apps (axes' sign-in lockout, django-q2's task queue) with Thai column names.

Their ModelAdmins show some columns by method name ("status", "expiration"); these subclasses give them
labels through gettext. Registered again here, after those apps registered theirs (dsign comes later in
INSTALLED_APPS).
"""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.utils.translation import gettext_lazy


class ThaiAccessAttemptAdmin(AccessAttemptAdmin):
    @admin.display(description=gettext_lazy("lockout expires at"))
    def expiration(self, obj):
        return super().expiration(obj)

    @admin.display(description=gettext_lazy("lockout status"))
    def status(self, obj):
        return super().status(obj)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, ThaiAccessAttemptAdmin)

from django.contrib import admin, messages
from django.utils.translation import gettext, gettext_lazy

from . import services
from .models import OutgoingEmail


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "kind", "recipients", "subject", "status", "attempts", "next_attempt_at"]
    list_filter = ["status", "kind"]
    search_fields = ["subject", "to"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ["retry_now"]
    readonly_fields = [f.name for f in OutgoingEmail._meta.fields if f.name != "parts"]
    exclude = ["parts"]

    @admin.display(description=gettext_lazy("to"))
    def recipients(self, obj: OutgoingEmail) -> str:
        return ", ".join(obj.to)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description=gettext_lazy("Send again now"))
    def retry_now(self, request, queryset):
        count = services.emails_retry(emails=queryset)
        self.message_user(request, gettext("%(n)s e-mail(s) queued again") % {"n": count}, messages.SUCCESS)

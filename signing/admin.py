from django.contrib import admin, messages
from django.utils.translation import gettext, gettext_lazy

from . import services
from .models import SigningAttempt, SigningJob


class AttemptInline(admin.TabularInline):
    model = SigningAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["started_at", "finished_at", "outcome", "error", "worker_pid"]


@admin.register(SigningJob)
class SigningJobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "field_name", "level", "subject_id", "attempts", "error_code", "created_at"]
    list_filter = ["status", "kind", "level"]
    search_fields = ["field_name", "error_message", "=subject_id"]
    readonly_fields = [f.name for f in SigningJob._meta.fields]
    inlines = [AttemptInline]
    actions = ["retry"]
    show_full_result_count = False

    @admin.action(description=gettext_lazy("Retry the selected failed or waiting jobs"))
    def retry(self, request, queryset):
        queued = 0
        for job in queryset:
            try:
                services.signing_job_retry(job=job, actor=request.user)
            except services.RetryRefused as exc:
                messages.error(request, gettext("Job #%(pk)s: %(error)s") % {"pk": job.pk, "error": exc.message})
            else:
                queued += 1
        if queued:
            messages.success(request, gettext("Queued again."))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

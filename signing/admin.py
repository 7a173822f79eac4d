from django.contrib import admin, messages

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

    @admin.action(description="Retry the selected failed or waiting jobs")
    def retry(self, request, queryset):
        queued = 0
        for job in queryset:
            try:
                services.signing_job_retry(job=job, actor=request.user)
            except services.RetryRefused as exc:
                messages.error(request, f"Job #{job.pk}: {exc.message}")
            else:
                queued += 1
        if queued:
            messages.success(request, "Queued again.")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

"""Operator console for application clients, webhook subscriptions and the delivery log."""

from django.contrib import admin, messages
from django.utils.translation import gettext, gettext_lazy

from . import services
from .models import ApiClient, DeliveryAttempt, IdempotencyRecord, WebhookDelivery, WebhookSubscription


class WebhookSubscriptionInline(admin.TabularInline):
    model = WebhookSubscription
    extra = 0
    fields = ["url", "events", "active", "secret"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "scopes", "active", "created_at", "last_used_at"]
    list_filter = ["active"]
    search_fields = ["name", "key_prefix"]
    readonly_fields = ["key_prefix", "created_at", "last_used_at"]
    filter_horizontal = ["allowed_users", "allowed_org_units"]
    inlines = [WebhookSubscriptionInline]
    actions = ["issue_new_key"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            raw_key = services.api_client_rotate_key(client=obj, actor=request.user)
            # Shown once: only its hash is kept.
            messages.warning(
                request,
                gettext("API key for %(name)s (copy it now, it is not shown again): %(key)s")
                % {"name": obj.name, "key": raw_key},
            )

    @admin.action(description=gettext_lazy("Issue a new key (the old one stops working)"))
    def issue_new_key(self, request, queryset):
        for client in queryset:
            raw_key = services.api_client_rotate_key(client=client, actor=request.user)
            messages.warning(
                request,
                gettext("New API key for %(name)s (not shown again): %(key)s") % {"name": client.name, "key": raw_key},
            )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "finished_at", "outcome", "response_status", "error"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event_type",
        "event_uuid",
        "subscription",
        "status",
        "attempts",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event__event"]
    search_fields = ["event__event_id", "subscription__url", "subscription__client__name"]
    list_select_related = ["event", "subscription__client"]
    readonly_fields = [
        "subscription",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "delivered_at",
        "last_error",
        "created_at",
    ]
    inlines = [DeliveryAttemptInline]
    actions = ["retry"]
    show_full_result_count = False

    @admin.display(description=gettext_lazy("event type"))
    def event_type(self, obj) -> str:
        return obj.event.event

    @admin.display(description=gettext_lazy("event id"))
    def event_uuid(self, obj) -> str:
        return str(obj.event.event_id)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description=gettext_lazy("Send failed deliveries again"))
    def retry(self, request, queryset):
        for delivery in queryset.filter(status="failed"):
            services.webhook_delivery_retry(delivery=delivery, actor=request.user)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ["key", "user", "method", "path", "completed", "response_status", "created_at", "expires_at"]
    list_filter = ["completed", "method"]
    search_fields = ["key", "user__username", "path"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

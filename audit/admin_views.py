"""Admin pages whose reading is itself evidence (login history, certificates): each view is audited."""

from __future__ import annotations

from django.db import transaction

import audit


def admin_view_record(*, request, page: str, object_id: str = "") -> None:
    """Who looked at a sensitive admin page, with the filters they used."""
    query = {key: request.GET.get(key, "")[:100] for key in list(request.GET)[:20]}
    with transaction.atomic():
        audit.record(
            actor=request.user,
            action="admin.viewed",
            target=(page, object_id),
            details={"page": page, "object": object_id, "query": query, "path": request.path[:300]},
        )


class ViewAuditedAdmin:
    """Mixin for a ModelAdmin: the list and every opened record write an `admin.viewed` event."""

    def _view_audited_page(self) -> str:
        return self.model._meta.label_lower

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        if request.method == "GET" and getattr(response, "status_code", 0) == 200:
            admin_view_record(request=request, page=self._view_audited_page())
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and getattr(response, "status_code", 0) == 200:
            admin_view_record(request=request, page=self._view_audited_page(), object_id=str(object_id))
        return response

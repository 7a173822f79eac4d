"""What a locked-out sign-in sees (django-axes' AXES_LOCKOUT_CALLABLE): JSON for the API, a page otherwise."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _


def lockout_message() -> str:
    minutes = round(float(settings.AXES_COOLOFF_TIME) * 60)
    return _(
        "Too many wrong passwords: sign-in is locked for %(minutes)s minutes. Try again later, or ask your "
        "IT administrator to unlock your account."
    ) % {"minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    message = lockout_message()
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith("/api/") or request.headers.get("x-requested-with") == "XMLHttpRequest":
        return JsonResponse({"detail": message, "code": "locked_out"}, status=status)
    return render(request, "office/locked_out.html", {"message": message}, status=status)

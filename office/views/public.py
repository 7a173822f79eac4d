"""The public verification page of a completed document (no sign-in): the QR code on the memo leads here.

``/v/<token>/`` shows the verdict, the signers (name, position, tier, time) and the final SHA-256, and
takes an uploaded copy to compare (workflows.services.verification_link decides what a stranger may see
and check). Any token that is not a completed document's is the ordinary 404 page. Each client address
gets ``public_verify`` views and ``public_verify_upload`` uploads per period (REST_FRAMEWORK throttle
rates), over that 429.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_http_methods
from rest_framework.throttling import SimpleRateThrottle

from core.client_ip import client_ip
from core.errors import DomainError
from workflows.services import verification_link


class _PerAddress(SimpleRateThrottle):
    def __init__(self, scope: str):
        self.scope = scope
        super().__init__()

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request) or "unknown"}


class CompareForm(forms.Form):
    file = forms.FileField(label="ไฟล์ PDF ที่จะเปรียบเทียบ")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.MAX_UPLOAD_BYTES:
            raise forms.ValidationError("ไฟล์ใหญ่เกินกว่าที่ตรวจสอบได้")
        return upload


def _limited(request, scope: str) -> bool:
    return not _PerAddress(scope).allow_request(request, None)


@require_http_methods(["GET", "POST"])
def public_verify(request, token: str):
    if _limited(request, "public_verify"):
        return render(request, "office/public_verify.html", {"limited": True}, status=429)
    try:
        view = verification_link.public_view(token=token)
    except DomainError as exc:
        raise Http404 from exc
    form = CompareForm(request.POST or None, request.FILES or None)
    comparison, status = None, 200
    if request.method == "POST":
        if _limited(request, "public_verify_upload"):
            form = CompareForm()
            form.add_error(None, "ส่งไฟล์บ่อยเกินไป กรุณารอสักครู่แล้วลองใหม่")
            status = 429
        elif form.is_valid():
            try:
                comparison = verification_link.public_upload_compare(token=token, data=form.cleaned_data["file"].read())
            except DomainError as exc:
                form.add_error("file", _error_words(exc))
                status = exc.status if exc.status in (400, 413, 429) else 400
        else:
            status = 400
    context = {"view": view, "form": form, "comparison": comparison, "token": token}
    return render(request, "office/public_verify.html", context, status=status)


def _error_words(exc: DomainError) -> str:
    return {
        "too_large": "ไฟล์ใหญ่เกินกว่าที่ตรวจสอบได้",
        "verifier_busy": "ระบบตรวจสอบกำลังทำงานเต็มที่ กรุณาลองใหม่ในอีกสักครู่",
        "invalid": "อ่านไฟล์นี้เป็น PDF ไม่ได้",
    }.get(exc.code, "ตรวจสอบไฟล์นี้ไม่ได้")

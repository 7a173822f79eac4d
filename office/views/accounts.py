"""Office pages of accounts: sign-in (local, AD, "Sign in with Microsoft") and the user's MFA devices."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import selectors, services


class LoginView(auth_views.LoginView):
    template_name = "office/login.html"
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["oidc_enabled"] = getattr(settings, "OIDC_ENABLED", False)
        context["oidc_provider_name"] = getattr(settings, "OIDC_PROVIDER_NAME", "Microsoft")
        context["ldap_enabled"] = getattr(settings, "LDAP_ENABLED", False)
        context["oidc_failed"] = self.request.GET.get("error") == "oidc"
        return context


@login_required
@require_http_methods(["GET", "POST"])
def mfa_devices(request):
    """List devices and run the enrolment steps; each POST calls one service and re-renders."""
    enrolment = None
    backup_codes = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        # Every change needs a code from an existing device, or the first-enrolment rules (services).
        auth = {
            "otp": request.POST.get("otp", ""),
            "webauthn": request.POST.get("webauthn") or None,
            "request": request,
        }
        first = {**auth, "enrolment_code": request.POST.get("enrolment_code", "")}
        try:
            if action == "totp":
                enrolment = services.totp_enrol_start(user=request.user, name=request.POST.get("name", ""), **first)
            elif action == "email":
                device = services.email_device_add(user=request.user, email=request.POST.get("email", ""), **first)
                messages.info(request, services.mfa_challenge(user=request.user, device_id=device.persistent_id))
            elif action == "sms":
                device = services.sms_device_add(user=request.user, phone=request.POST.get("phone", ""), **first)
                messages.info(request, services.mfa_challenge(user=request.user, device_id=device.persistent_id))
            elif action == "confirm":
                services.device_confirm(
                    user=request.user, device_id=request.POST.get("device", ""), code=request.POST.get("code", ""),
                    **auth,
                )  # fmt: skip
                messages.success(request, "ยืนยันอุปกรณ์แล้ว / Device confirmed.")
                return redirect("accounts-mfa")
            elif action == "challenge":
                services.mfa_challenge(user=request.user, device_id=request.POST.get("device", ""))
                messages.info(request, _("A code was sent; it is valid for a few minutes."))
            elif action == "backup":
                backup_codes = services.static_codes_generate(user=request.user, **first)
            elif action == "delete":
                services.device_delete(user=request.user, device_id=request.POST.get("device", ""), **auth)
                return redirect("accounts-mfa")
        except (services.MFAError, services.StepUpFailed) as exc:
            messages.error(request, exc.message)
    return render(
        request,
        "office/mfa.html",
        {
            "devices": selectors.mfa_devices(request.user),
            "enrolment": enrolment,
            "backup_codes": backup_codes,
            "has_confirmed": selectors.has_confirmed_device(request.user),
            "has_passkey": any(d["kind"] == "webauthn" and d["confirmed"] for d in selectors.mfa_devices(request.user)),
        },
    )

"""Passkey (WebAuthn) steps of the office pages, answered as JSON to static/js/passkeys.mjs.

The MFA page adds a passkey (options, then the new credential) and authorises factor changes with one;
the document page asks for a challenge bound to the document and version it shows before approving.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import services as accounts_services
from core.errors import DomainError
from workflows import services as workflow_services

from .documents import _document_or_404


def _refused(exc: DomainError) -> JsonResponse:
    return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status)


@login_required
@require_POST
def mfa_passkey_options(request):
    """Registration options for a new passkey, authorised like any new factor (a code, a passkey, or the
    first-enrolment rules)."""
    try:
        options = accounts_services.passkey_register_options(
            user=request.user,
            otp=request.POST.get("otp", ""),
            enrolment_code=request.POST.get("enrolment_code", ""),
            webauthn=request.POST.get("webauthn") or None,
            request=request,
        )
    except DomainError as exc:
        return _refused(exc)
    return JsonResponse(options)


@login_required
@require_POST
def mfa_passkey_register(request):
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return JsonResponse({"detail": _("The body must be a JSON object."), "code": "invalid"}, status=400)
    try:
        device = accounts_services.passkey_register(
            user=request.user, credential=body.get("credential"), name=str(body.get("name") or ""), request=request
        )
    except DomainError as exc:
        return _refused(exc)
    messages.success(request, _("Passkey added: %(name)s") % {"name": device.name})
    return JsonResponse({"id": device.persistent_id, "name": device.name}, status=201)


@login_required
@require_POST
def mfa_passkey_challenge(request):
    """Request options for authorising a change of factors with one of the user's passkeys."""
    try:
        return JsonResponse(accounts_services.passkey_change_options(user=request.user, request=request))
    except DomainError as exc:
        return _refused(exc)


@login_required
@require_POST
def document_passkey(request, pk: int):
    """Request options whose challenge carries this document and the version the page shows."""
    document = _document_or_404(request, pk)
    shown = request.POST.get("sha256", "")
    try:
        options = workflow_services.approval_passkey_options(
            documents=[document], actor=request.user, sha256={document.pk: shown} if shown else None, request=request
        )
    except DomainError as exc:
        return _refused(exc)
    return JsonResponse(options)


@login_required
@require_POST
def batch_passkey(request):
    """Request options whose challenge carries every selected document and the version the inbox listed."""
    from .documents import batch_documents, batch_form

    form = batch_form(request)
    # no code yet (the passkey replaces it): only the documents must be right
    if not form.is_valid() and "documents" in form.errors:
        return JsonResponse({"detail": _("Choose documents and enter the OTP."), "code": "invalid"}, status=400)
    try:
        options = workflow_services.approval_passkey_options(
            documents=batch_documents(request, form),
            actor=request.user,
            sha256={pk: sha for pk, sha in form.versions_shown().items() if sha},
            request=request,
        )
    except DomainError as exc:
        return _refused(exc)
    return JsonResponse(options)

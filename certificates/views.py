"""PKI endpoints named inside every certificate the internal CA issues, and the agreement page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import selectors, services
from .models import Certificate

MAX_PROTOCOL_REQUEST = 64 * 1024


def root_certificate(request):
    root = selectors.authority_get("root")
    if root is None:
        raise Http404("the internal CA has not been created")
    return HttpResponse(bytes(root.certificate_der), content_type="application/pkix-cert")


def ca_certificate(request, kind: str):
    ca = selectors.authority_get(kind)
    if ca is None or kind not in ("root", "issuing"):
        raise Http404
    return HttpResponse(bytes(ca.certificate_der), content_type="application/pkix-cert")


def crl(request, kind: str):
    if kind not in ("root", "issuing"):
        raise Http404
    data = services.crl_current(kind=kind)
    if data is None:
        raise Http404
    return HttpResponse(data, content_type="application/pkix-crl")


def _protocol_body(request) -> bytes | None:
    body = request.body
    if not body or len(body) > MAX_PROTOCOL_REQUEST:
        return None
    return body


@csrf_exempt
@require_http_methods(["POST"])
def ocsp(request):
    body = _protocol_body(request)
    if body is None:
        return HttpResponseBadRequest("expected a DER OCSP request in the body")
    return HttpResponse(services.ocsp_respond(request_der=body), content_type="application/ocsp-response")


@csrf_exempt
@require_http_methods(["POST"])
def tsa(request):
    body = _protocol_body(request)
    if body is None:
        return HttpResponseBadRequest("expected a DER RFC 3161 timestamp request in the body")
    return HttpResponse(services.tsa_respond(request_der=body), content_type="application/timestamp-reply")


@login_required
def agreement(request, pk: int, token: str):
    cert = get_object_or_404(Certificate, pk=pk, user=request.user)
    if request.method == "POST":
        try:
            services.certificate_accept(certificate=cert, actor=request.user, token=token)
        except (ValueError, PermissionError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "ยอมรับข้อตกลงแล้ว ใบรับรองพร้อมใช้งาน / Agreement accepted.")
        return redirect("certificate-agreement", pk=pk, token=token)
    return render(request, "certificates/agreement.html", {"certificate": cert, "token": token})


@login_required
def my_certificates(request):
    """The holder's own certificates with their details (name, created, expiry, serial, issuer, status)."""
    certificates = selectors.certificates_visible(user=request.user).filter(user=request.user)
    return render(request, "certificates/mine.html", {"certificates": certificates})

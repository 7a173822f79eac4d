"""PKI endpoints named inside every certificate the internal CA issues (the pages are in office/)."""

from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import responders, selectors

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
    data = responders.crl_current(kind=kind)
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
    return HttpResponse(responders.ocsp_respond(request_der=body), content_type="application/ocsp-response")


@csrf_exempt
@require_http_methods(["POST"])
def tsa(request):
    """dsign's own RFC 3161 TSA: only for allowed clients (`certificates.responders.tsa_admit`)."""
    refusal = responders.tsa_admit(request)
    if refusal is not None:
        status, message = refusal
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    body = _protocol_body(request)
    if body is None:
        return HttpResponseBadRequest("expected a DER RFC 3161 timestamp request in the body")
    return HttpResponse(responders.tsa_respond(request_der=body), content_type="application/timestamp-reply")

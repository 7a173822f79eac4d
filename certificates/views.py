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


def _tsa_refusal(request) -> HttpResponse | None:
    """The TSA answers the networks the configuration allows (TSA_ALLOWED_NETWORKS, empty: any), at
    most TSA_RATE_LIMIT_PER_MINUTE requests per client address and minute."""
    import ipaddress
    import time

    from django.conf import settings
    from django.core.cache import cache

    address = request.META.get("REMOTE_ADDR", "")
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return HttpResponse("client address unknown", status=403, content_type="text/plain")
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.TSA_ALLOWED_NETWORKS]
    if networks and not any(client in n for n in networks):
        return HttpResponse("this TSA does not serve your network", status=403, content_type="text/plain")
    limit = settings.TSA_RATE_LIMIT_PER_MINUTE
    if limit:
        key = f"tsa-rate:{address}:{int(time.time() // 60)}"
        cache.add(key, 0, timeout=120)
        if cache.incr(key) > limit:
            return HttpResponse("too many timestamp requests; retry in a minute", status=429, content_type="text/plain")
    return None


@csrf_exempt
@require_http_methods(["POST"])
def tsa(request):
    refusal = _tsa_refusal(request)
    if refusal is not None:
        return refusal
    body = _protocol_body(request)
    if body is None:
        return HttpResponseBadRequest("expected a DER RFC 3161 timestamp request in the body")
    return HttpResponse(responders.tsa_respond(request_der=body), content_type="application/timestamp-reply")

"""The CA's protocol answers: CRLs (published on revocation, refreshed daily), OCSP and RFC 3161 timestamps."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import threading
from datetime import timedelta
from time import monotonic

from django.conf import settings
from django.utils import timezone

from . import pki
from .models import Certificate, CertificateAuthority, CertificateStatus

CRL_LIFETIME = timedelta(days=1)
# A root kept offline (`ca_ceremony`) signs its CRL at ceremonies only: it must outlast the gap.
OFFLINE_ROOT_CRL_LIFETIME = timedelta(days=400)


def _lifetime(ca: CertificateAuthority) -> timedelta:
    from core import hsm

    root_apart = hsm.get_config("root") != hsm.get_config("ca")
    return OFFLINE_ROOT_CRL_LIFETIME if ca.kind == CertificateAuthority.Kind.ROOT and root_apart else CRL_LIFETIME


def _offline(ca: CertificateAuthority) -> bool:
    """The CA's key is in a token this process has no PIN for (the ceremony's root)."""
    from core import hsm

    return not hsm.get_config(hsm.realm_of(ca.key_label)).user_pin


def _crl_build(*, ca: CertificateAuthority, now) -> bytes:
    if ca.kind == CertificateAuthority.Kind.ROOT:
        revoked = []
    else:
        revoked = [
            (int(c.serial_number, 16), c.revoked_at, c.revocation_reason or "unspecified")
            for c in Certificate.objects.filter(issued_by=ca, status=CertificateStatus.REVOKED)
        ]
    # The CRL number is the issue time in microseconds: increasing without a counter to write, so a
    # CRL can be made on a read-only request path (see crl_current).
    crl = pki.build_crl(
        issuer_cert=ca.certificate,
        issuer_key_label=ca.key_label,
        revoked=revoked,
        crl_number=int(now.timestamp() * 1_000_000),
        this_update=now,
        next_update=now + _lifetime(ca),
    )
    return crl.dump()


def crl_publish(*, authority: CertificateAuthority) -> bytes:
    """Sign a fresh CRL for `authority` with its key in the token and keep it."""
    now = timezone.now()
    data = _crl_build(ca=authority, now=now)
    CertificateAuthority.objects.filter(pk=authority.pk).update(
        crl_der=data, crl_next_update=now + _lifetime(authority), crl_number=int(now.timestamp() * 1_000_000)
    )
    return data


def crl_current(*, kind: str) -> bytes | None:
    """The kept CRL while it is fresh; otherwise a fresh one made without writing (requests stay read-only:
    a signing worker fetches CRLs from this app while it holds the database's write lock on SQLite)."""
    ca = CertificateAuthority.objects.filter(kind=kind).first()
    if ca is None:
        return None
    now = timezone.now()
    stale = ca.crl_der is None or ca.crl_next_update is None or ca.crl_next_update - timedelta(hours=1) <= now
    if stale and not (ca.crl_der is not None and _offline(ca)):
        return _crl_build(ca=ca, now=now)
    return bytes(ca.crl_der)


def crls_refresh() -> None:
    for ca in CertificateAuthority.objects.filter(kind__in=["root", "issuing"]):
        if not _offline(ca):
            crl_publish(authority=ca)


def ocsp_respond(*, request_der: bytes) -> bytes:
    issuing = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.ISSUING)
    responder = CertificateAuthority.objects.get(kind=CertificateAuthority.Kind.OCSP)

    def status_for_serial(serial: int):
        cert = Certificate.objects.filter(issued_by=issuing, serial_number=format(serial, "x")).first()
        if cert is None:
            service = CertificateAuthority.objects.filter(parent=issuing).exclude(kind="issuing")
            if any(ca.certificate.serial_number == serial for ca in service):
                return "good", None, None
            return "unknown", None, None
        if cert.status == CertificateStatus.REVOKED:
            return "revoked", cert.revoked_at, cert.revocation_reason or "unspecified"
        return "good", None, None

    return pki.build_ocsp_response(
        request_der=request_der,
        status_for_serial=status_for_serial,
        issuer_cert=issuing.certificate,
        responder_cert=responder.certificate,
        responder_key_label=responder.key_label,
        now=timezone.now(),
    )


_tsa_window: dict[str, list[float]] = {}
_tsa_lock = threading.Lock()


def tsa_admit(request) -> tuple[int, str] | None:
    """None when this client may have a timestamp now; else (403 or 429, why).

    Allowed: a client address in `TSA_ALLOWED_NETWORKS` (dsign itself: loopback by default), HTTP Basic
    credentials equal to `TSA_USERNAME`/`TSA_PASSWORD` (what dsign's own client sends when they are set),
    or a signed-in user when `TSA_ALLOW_AUTHENTICATED`. Each client address gets at most
    `TSA_RATE_PER_MINUTE` timestamps a minute (per process).
    """
    address = request.META.get("REMOTE_ADDR", "")
    if not _tsa_client_allowed(request, address):
        return 403, "This timestamping service answers only dsign and its allowed clients."
    limit = int(settings.TSA_RATE_PER_MINUTE)
    now = monotonic()
    with _tsa_lock:
        recent = [t for t in _tsa_window.get(address, []) if now - t < 60]
        if len(recent) >= limit:
            _tsa_window[address] = recent
            return 429, "Too many timestamp requests; try again in a minute."
        recent.append(now)
        _tsa_window[address] = recent
        if len(_tsa_window) > 10_000:
            _tsa_window.clear()
    return None


def _tsa_client_allowed(request, address: str) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        client = None
    if client is not None:
        for network in settings.TSA_ALLOWED_NETWORKS:
            if client in ipaddress.ip_network(network, strict=False):
                return True
    if settings.TSA_USERNAME and settings.TSA_PASSWORD:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            if hmac.compare_digest(user, settings.TSA_USERNAME) and hmac.compare_digest(
                password, settings.TSA_PASSWORD
            ):
                return True
    user = getattr(request, "user", None)
    return bool(settings.TSA_ALLOW_AUTHENTICATED and user is not None and user.is_authenticated)


def tsa_respond(*, request_der: bytes) -> bytes:
    tsa = CertificateAuthority.objects.select_related("parent").get(kind=CertificateAuthority.Kind.TSA)
    return pki.build_timestamp_response(
        request_der=request_der,
        tsa_cert=tsa.certificate,
        tsa_key_label=tsa.key_label,
        chain=[tsa.parent.certificate],
        serial_number=pki.record_serial(),
        now=timezone.now(),
    )

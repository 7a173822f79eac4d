"""The RFC 3161 timestamp client (pyHanko's HTTP timestamper) for the configured TSA.

Signing (PAdES B-T and above) and audit anchoring both take their timestamps from here.
"""

from __future__ import annotations

from django.conf import settings

__all__ = ["timestamper"]

TSA_TIMEOUT_SECONDS = 10


def timestamper():
    from pyhanko.sign.timestamps import HTTPTimeStamper

    auth = (settings.TSA_USERNAME, settings.TSA_PASSWORD) if settings.TSA_USERNAME else None
    return HTTPTimeStamper(settings.TSA_URL, auth=auth, timeout=TSA_TIMEOUT_SECONDS)

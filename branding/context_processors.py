"""Puts the organisation's branding into every template as `brand`."""

from .selectors import branding_get


def branding(request) -> dict:
    return {"brand": branding_get()}

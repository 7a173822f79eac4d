"""Serves the uploaded branding files (logo, emblem) in the embedded default.

Only names directly under ``branding/`` in the default storage are served: document files live
elsewhere in the same storage (``documents/…``) and never become reachable through this view. In
production a proxy or the S3 bucket may serve ``/media/branding/`` instead; this view stays as the
fallback and answers the same way.
"""

from __future__ import annotations

import re

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe

# Raster formats only: an uploaded SVG could carry script, and browsers run it when opened directly.
_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}
# One path segment as Django's storage names uploads: no separators, no "..", no control characters.
_NAME = re.compile(r"^[^/\\\x00-\x1f]+$")


@require_safe
def branding_file(request, name: str):
    if not _NAME.match(name) or name.startswith(".") or ".." in name:
        raise Http404("no such branding file")
    suffix = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
    content_type = _TYPES.get(suffix)
    stored = f"branding/{name}"
    if content_type is None or not default_storage.exists(stored):
        raise Http404("no such branding file")
    response = FileResponse(default_storage.open(stored, "rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "public, max-age=3600"
    response["Content-Disposition"] = "inline"
    return response


__all__ = ["branding_file"]

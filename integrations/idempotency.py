"""`Idempotency-Key` for POST endpoints: a retried request gets the first response back, not a second effect.

The key is reserved (a unique row per user and key) before the view runs, outside any transaction, so a
concurrent duplicate gets 409 instead of running twice. The request is identified by a fingerprint of its
method, path and parsed body: multipart boundaries differ between retries of the same upload, so files
count by their SHA-256, not by their bytes on the wire. Only successful (2xx) responses are kept; after an
error the key is released, so the client may fix the request and send it again with the same key.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re

from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.http import QueryDict
from rest_framework.response import Response

from . import services

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


def _canonical(value):
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    if isinstance(value, QueryDict):
        return {key: [_canonical(v) for v in value.getlist(key)] for key in sorted(value.keys())}
    if isinstance(value, dict):
        return {str(key): _canonical(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def request_fingerprint(request) -> str:
    data = request.data
    if isinstance(data, QueryDict) and request.FILES:
        data = data.copy()
        for key in request.FILES:
            data.setlist(key, request.FILES.getlist(key))
    canonical = json.dumps(
        {"method": request.method, "path": request.path, "data": _canonical(data)},
        sort_keys=True,
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent(handler):
    """Decorate an APIView `post`: honour the Idempotency-Key header when the client sends one."""

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not KEY_PATTERN.match(key):
            return Response(
                {"detail": f"{HEADER} must be 1 to 255 visible ASCII characters.", "code": "invalid"}, status=400
            )
        try:
            record = services.idempotency_begin(
                user=request.user,
                key=key,
                method=request.method,
                path=request.path[:500],
                fingerprint=request_fingerprint(request),
            )
        except services.IdempotencyConflict as exc:
            return Response({"detail": exc.message, "code": exc.code}, status=exc.status)
        if record.completed:
            return Response(
                record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"}
            )
        try:
            response = handler(view, request, *args, **kwargs)
        except BaseException:
            services.idempotency_release(record=record)
            raise
        if 200 <= response.status_code < 300 and isinstance(response, Response):
            body = json.loads(json.dumps(response.data, cls=DjangoJSONEncoder))
            services.idempotency_complete(record=record, status=response.status_code, body=body)
        else:
            services.idempotency_release(record=record)
        return response

    return wrapper

"""Liveness (/healthz) and readiness (/readyz) for load balancers, compose and the Dockerfile.

Both answer before any other middleware: a probe comes from an address, not a host name in
ALLOWED_HOSTS, over plain HTTP, without a session. They show states and short error codes only, never
configuration, paths, user names or secrets; the full error goes to the log.

Readiness: the database answers, the broker answers, the HSM token logs in with a session to spare,
the issuing CA exists with its key in the token, a worker ran the heartbeat task within
HEALTH_WORKER_MAX_AGE seconds, and the document storage accepts a write.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)

HEALTH_PATHS = ("/healthz", "/readyz")


class CheckFailed(Exception):
    """A readiness check that answered, but not well enough; the message is safe to show."""


def _database() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"engine": connection.vendor}


def _broker() -> dict:
    if not settings.REDIS_URL:
        return {"kind": "orm"}  # the database is the broker: checked above
    import redis

    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()
    return {"kind": "redis"}


def _hsm() -> dict:
    from core import hsm

    report = hsm.health()
    if not report["token_present"]:
        raise CheckFailed("token_unavailable")
    if not report["login_ok"]:
        raise CheckFailed("login_failed")
    if report["free_sessions"] < 1:
        raise CheckFailed("no_free_session")
    return {"free_sessions": report["free_sessions"]}


def _ca() -> dict:
    from certificates.selectors import authority_get
    from core import hsm

    issuing = authority_get("issuing")
    if issuing is None or authority_get("root") is None:
        raise CheckFailed("ca_missing")
    if not hsm.key_exists(label=issuing.key_label):
        raise CheckFailed("ca_key_missing")
    return {}


def _worker() -> dict:
    from django.utils import timezone

    from .models import WorkerHeartbeat

    max_age = settings.HEALTH_WORKER_MAX_AGE
    latest = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()
    if latest is None:
        raise CheckFailed("no_worker_seen")
    age = (timezone.now() - latest).total_seconds()
    if age > max_age:
        raise CheckFailed("worker_silent")
    return {"seen_seconds_ago": max(0, int(age))}


def _storage() -> dict:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    name = default_storage.save(f"health/probe-{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)
    return {}


READINESS: dict[str, Callable[[], dict]] = {
    "database": _database,
    "broker": _broker,
    "hsm": _hsm,
    "ca": _ca,
    "worker": _worker,
    "storage": _storage,
}
# A check that cannot mean anything while the one it needs fails is skipped.
DEPENDS_ON = {"ca": ("database", "hsm"), "worker": ("database",)}


def readiness() -> tuple[bool, dict]:
    checks: dict[str, dict] = {}
    for name, check in READINESS.items():
        blocked = [dep for dep in DEPENDS_ON.get(name, ()) if checks[dep]["status"] != "ok"]
        if blocked:
            checks[name] = {"status": "skipped", "error": f"needs_{blocked[0]}"}
            continue
        try:
            checks[name] = {"status": "ok", **check()}
        except CheckFailed as exc:
            checks[name] = {"status": "fail", "error": str(exc)}
            logger.warning("readiness check %s failed: %s", name, exc)
        except Exception as exc:
            checks[name] = {"status": "fail", "error": type(exc).__name__}
            logger.warning("readiness check %s failed", name, exc_info=True)
    ready = all(c["status"] == "ok" for c in checks.values())
    return ready, checks


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "checks": {"process": {"status": "ok"}}})


def readyz(request: HttpRequest) -> JsonResponse:
    ready, checks = readiness()
    return JsonResponse({"status": "ok" if ready else "fail", "checks": checks}, status=200 if ready else 503)


class HealthMiddleware:
    """First in MIDDLEWARE: probes are answered before host validation, TLS redirect and sessions."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        path = request.path_info.rstrip("/")
        if path in HEALTH_PATHS and request.method in ("GET", "HEAD"):
            response = healthz(request) if path == "/healthz" else readyz(request)
            response["Cache-Control"] = "no-store"
            # The failing check is logged once as a warning; Django's "Service Unavailable" error per probe
            # would flood the log while a dependency is down.
            response._has_been_logged = True
            return response
        return self.get_response(request)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heartbeat_record(*, worker: str) -> None:
    """The worker is alive and reaches the database; day-old entries of gone workers are dropped."""
    from django.utils import timezone

    from .models import WorkerHeartbeat

    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(worker=worker, defaults={"seen_at": now})
    WorkerHeartbeat.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()


def worker_spawned(sender=None, proc_name: str = "", **kwargs) -> None:
    """django-q2's `post_spawn`, in each new worker process: it is alive and reaches the database now, so
    /readyz need not wait for the schedule's first heartbeat (up to a minute after the cluster starts)."""
    try:
        heartbeat_record(worker=worker_name())
    except Exception:  # noqa: BLE001 - the database is down: the worker starts anyway; /readyz says why
        logger.warning("worker %s could not record its start", proc_name, exc_info=True)


def local_cluster_alive(*, host: str) -> tuple[bool, dict]:
    """A qcluster on `host` published its status within the last seconds (Redis broker), or, on the ORM
    broker (whose status lives in one process's memory), some worker ran the heartbeat recently."""
    if settings.REDIS_URL:
        from django_q.brokers import get_broker
        from django_q.status import Stat

        clusters = [s for s in Stat.get_all(get_broker()) if getattr(s, "host", None) == host]
        if clusters:
            return True, {"cluster": {"status": "ok", "clusters": len(clusters)}}
        return False, {"cluster": {"status": "fail", "error": "no_cluster_on_this_host"}}
    try:
        return True, {"cluster": {"status": "ok", **_worker()}}
    except CheckFailed as exc:
        return False, {"cluster": {"status": "fail", "error": str(exc)}}

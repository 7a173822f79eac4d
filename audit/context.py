"""The request that is being served (IP, user agent), so services can record where an action came from."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None
    user_agent: str = ""


current_request: ContextVar[RequestContext] = ContextVar("audit_request", default=RequestContext())

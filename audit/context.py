"""Where an action came from (IP, user agent, the API client that acted, the management command), so
services can record it without every caller passing it along."""

from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RequestContext:
    ip_address: str | None = None
    user_agent: str = ""
    # The application (integrations.ApiClient) that authenticated this request, as "name (prefix…)".
    api_client: str = ""
    # `manage.py <command>` when the action runs from the command line.
    command: str = ""
    request: object | None = None


current_request: ContextVar[RequestContext] = ContextVar("audit_request", default=RequestContext())


def api_client_set(label: str) -> None:
    """Called by the API-key authentication: events of this request name the client next to the user.

    The middleware resets the context after the response, so the label never leaks into the next request.
    """
    current_request.set(replace(current_request.get(), api_client=label[:200]))


def request_user():
    """The signed-in user of the current request (None outside requests or when anonymous)."""
    request = current_request.get().request
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None

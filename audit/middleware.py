from core.client_ip import client_ip

from .context import RequestContext, current_request

# Refused access is audited (who, where, what status); redirects to the login page are not refusals.
REFUSED_STATUSES = {401, 403}


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(
            RequestContext(
                ip_address=client_ip(request),
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
                request=request,
            )
        )
        try:
            response = self.get_response(request)
            if response.status_code in REFUSED_STATUSES:
                _record_refusal(request, response)
            return response
        finally:
            current_request.reset(token)


def _record_refusal(request, response) -> None:
    from django.db import transaction

    from . import record
    from .models import Outcome

    user = getattr(request, "user", None)  # DRF writes the user it authenticated back onto the request
    with transaction.atomic():
        record(
            actor=user if getattr(user, "is_authenticated", False) else None,
            action="access.denied",
            target=("http.path", ""),
            outcome=Outcome.DENIED,
            details={"method": request.method, "path": request.path[:500], "status": response.status_code},
        )

"""The one place the office pages turn a refused request (`core.errors.DomainError`) into a response.

Views call services without catching anything and declare how a refusal is shown:

- `@domain_errors(redirect_to="office-document")`: a form posted from a page — the message is flashed
  and the browser goes back to that page (the URL name is reversed with the view's own arguments);
- `@domain_errors(template="office/_batch.html")`: an htmx fragment — rendered with `error` and the
  error's 4xx status;
- `@domain_errors()`: the error page with the error's 4xx status; JSON `{"detail", "code"}` when the
  page's script asked (`X-Composer`), like the API.

The message is the service's, translated (services write it with gettext).
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render

from core.errors import DomainError

__all__ = ["domain_errors"]


def domain_errors(*, redirect_to: str | None = None, template: str | None = None):
    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                return view(request, *args, **kwargs)
            except DomainError as exc:
                return _refusal(request, exc, redirect_to=redirect_to, template=template, view_kwargs=kwargs)

        return wrapper

    return decorate


def _refusal(request, exc: DomainError, *, redirect_to, template, view_kwargs):
    if request.headers.get("X-Composer") == "1":
        return JsonResponse({"detail": exc.message, "code": exc.code}, status=exc.status)
    if redirect_to is not None:
        messages.error(request, exc.message)
        return redirect(redirect_to, **{k: v for k, v in view_kwargs.items() if k == "pk"})
    context = {"error": exc.message, "code": exc.code}
    return render(request, template or "office/error.html", context, status=exc.status)

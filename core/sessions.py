"""Marking views whose requests must not keep a session alive (pages poll them every few seconds).

`dsign.security.SessionLifetimeMiddleware` ends a session after SESSION_IDLE_SECONDS without a request a
person made, and after SESSION_ABSOLUTE_SECONDS in any case; a request to a `@passive` view counts as
neither activity nor a reason to save the session.
"""

from __future__ import annotations

__all__ = ["passive"]


def passive(view):
    view.session_passive = True
    return view

"""The domain error every service raises when it refuses, mapped to HTTP once.

`DomainError(message, code, status)`: `message` is for people (written with gettext, so it is shown
in Thai), `code` is stable for machines (the JSON error body carries it next to `detail`), `status`
is the 4xx the doors answer with. The REST API maps it in `dsign.api.exception_handler`, the office
pages in `office.errors.domain_errors`.
"""

from __future__ import annotations

__all__ = ["DomainError"]


class DomainError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, message: str = "", code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = str(message)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message

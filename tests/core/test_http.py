"""core.http: the one rule for which HTTP answers of webhooks and the SMS gateway are retried."""

import pytest

from core.http import http_status_transient


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_server_errors_and_later_answers_are_retried(status):
    assert http_status_transient(status)


@pytest.mark.parametrize("status", [200, 301, 400, 401, 403, 404, 410, 413, 422])
def test_refusals_of_the_request_itself_are_not_retried(status):
    assert not http_status_transient(status)

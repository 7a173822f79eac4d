"""Log lines carry time, level, logger and request id; LOG_FORMAT=json gives JSON Lines; the access log names
the request id; libraries that print signers' names at INFO are kept at WARNING."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest
from django.conf import settings

from dsign.logsetup import TEXT_FORMAT, JsonFormatter, RequestIdFilter, UTCFormatter, request_id
from tests.support.web import gunicorn, http_get

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _record(message: str) -> logging.LogRecord:
    record = logging.LogRecord("workflows.services", logging.WARNING, __file__, 1, message, (), None)
    RequestIdFilter().filter(record)
    return record


def test_a_text_line_has_utc_time_level_logger_and_request_id():
    token = request_id.set("rid-12345678")
    try:
        line = UTCFormatter(TEXT_FORMAT).format(_record("ช้า"))
    finally:
        request_id.reset(token)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARNING workflows\.services \[rid-12345678\] ช้า", line)


def test_a_json_line_has_the_same_fields():
    line = json.loads(JsonFormatter().format(_record("x")))
    assert set(line) == {"time", "level", "logger", "request_id", "message"} and line["request_id"] == "-"


def test_pyhanko_and_certvalidator_info_lines_are_not_emitted():
    for name in ("pyhanko.sign.validation", "pyhanko_certvalidator.fetchers", "pyhanko_certvalidator"):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO)
    assert logging.getLogger("workflows").isEnabledFor(logging.INFO)


def test_the_server_logs_json_with_the_request_id_in_app_and_access_lines(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
        "LOG_FORMAT": "json",
    }
    log = tmp_path / "server.log"
    with gunicorn(env, log=log) as base:
        status, headers, _ = http_get(f"{base}/api/v1/no-such-thing/", {"X-Request-ID": "lb-req-0001"})
        assert status == 404 and headers["X-Request-ID"] == "lb-req-0001"
        status, headers, _ = http_get(f"{base}/api/v1/other/", {"X-Request-ID": "bad id; with spaces"})
        generated = headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "request_id", "message"} <= set(line) for line in lines)
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert {line["request_id"] for line in not_found} == {"lb-req-0001", generated}
    access = [line["message"] for line in lines if line["logger"] == "gunicorn.access"]
    assert any("/api/v1/no-such-thing/" in m and "request_id=lb-req-0001" in m for m in access)
    assert any(f"request_id={generated}" in m for m in access)

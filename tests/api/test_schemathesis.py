"""The API fuzzed against its own live OpenAPI schema, and the schema and docs checked as artefacts.

Every operation of /api/schema/ gets a bounded number of schema-valid requests from schemathesis, sent to
a real server (pytest-django's live_server) with a signer's token. A 5xx, an undocumented status code or
a body that does not match the schema fails the test and names the request that did it.
"""

from __future__ import annotations

import os
import re

import hypothesis
import pytest
import requests
import schemathesis
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import api_token_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

EXAMPLES_PER_OPERATION = int(os.environ.get("DSIGN_FUZZ_EXAMPLES", "15"))
# Verification starts a resource-limited subprocess per request (~2 s each); a few examples cover its parsing.
SLOW_OPERATIONS = {"/api/v1/verify/": 4}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_schema_is_valid_openapi_3(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    raw = response.json()
    assert raw["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_dict(raw)
    schema.validate()  # against the OpenAPI 3 meta-schema
    paths = raw["paths"]
    for path in (
        "/api/v1/documents/",
        "/api/v1/workflows/",
        "/api/v1/inbox/",
        "/api/v1/batches/",
        "/api/v1/batches/{id}/",
        "/api/v1/documents/{id}/versions/",
        "/api/v1/documents/{id}/approve/",
    ):
        assert path in paths, path
    approve = paths["/api/v1/documents/{id}/approve/"]["post"]
    assert {"202", "400", "401", "403", "404", "409", "422", "429"} <= set(approve["responses"])
    assert any(p["name"] == "Idempotency-Key" for p in approve["parameters"])
    assert "ApiKeyAuth" in raw["components"]["securitySchemes"]


def test_a_broken_schema_is_caught_by_the_validator():
    schema = schemathesis.openapi.from_dict({"openapi": "3.0.3", "info": {"title": "x"}, "paths": {}})
    with pytest.raises(Exception):  # noqa: B017  (jsonschema_rs' error type is private)
        schema.validate()


def test_swagger_ui_is_served_without_any_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    assert not re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html), "the page references another host"
    for asset in assets:
        if asset.startswith("/api/docs/?script"):
            # Swagger UI's start-up script, served by the docs view itself (no inline script under the CSP).
            assert client.get(asset).status_code == 200
            continue
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/").split("?")[0]), f"{asset} is not a local static file"


@pytest.fixture
def seeded(personas, api_for, pdf_bytes):
    """A document in head1's inbox, so ids 1.. exist and GETs return real bodies, not only 404s."""
    response = api_for(personas["requester"]).post(
        "/api/v1/documents/",
        {
            "file": SimpleUploadedFile("m.pdf", pdf_bytes, content_type="application/pdf"),
            "title": "fuzz",
            "workflow": "memo-2-tier",
        },
        format="multipart",
    )
    assert response.status_code == 201
    return response.json()["id"]


@pytest.mark.slow
def test_fuzzing_the_live_api_finds_no_server_error_and_no_schema_violation(live_server, personas, seeded):
    headers = {"Authorization": f"Token {api_token_for(personas['head1'])}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json", headers=headers)
    schema.validate()
    session = requests.Session()
    failures: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/api/schema/":
            continue  # the schema endpoint itself: its formats are not ours to fuzz
        cache.clear()  # throttling counters; the user rate is real, this test just sends many requests

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=SLOW_OPERATIONS.get(operation.path, EXAMPLES_PER_OPERATION),
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        def fuzz(case):
            case.call_and_validate(base_url=live_server.url, session=session, headers=headers, checks=CHECKS)

        tested += 1
        try:
            fuzz()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # schemathesis' FailureGroup; collect each operation's, report all at once
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert tested >= 10
    assert not failures, "\n\n".join(failures)

"""Issue 16: the internal TSA answers only the networks the configuration allows, with a rate limit."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_the_tsa_refuses_networks_it_does_not_serve_and_rate_limits_clients(client, settings):
    from django.core.cache import cache

    cache.clear()
    settings.TSA_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    refused = client.post("/pki/tsa", data=b"\x30\x00", content_type="application/timestamp-query")
    assert refused.status_code == 403
    settings.TSA_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.TSA_RATE_LIMIT_PER_MINUTE = 2
    answers = [client.post("/pki/tsa", data=b"", content_type="application/timestamp-query") for _ in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 429]

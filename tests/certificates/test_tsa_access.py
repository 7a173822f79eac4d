"""Issue 17: the internal TSA (/pki/tsa) answers only dsign itself, listed networks, its credentials or (when
configured) signed-in users, and at most TSA_RATE_PER_MINUTE requests a minute per client."""

import base64

import pytest
from asn1crypto import algos, tsp

from certificates import responders

pytestmark = pytest.mark.django_db


def _request() -> bytes:
    return tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": b"\x01" * 32,
            },
            "cert_req": True,
        }
    ).dump()


def _post(client, **extra):
    return client.post("/pki/tsa", data=_request(), content_type="application/timestamp-query", **extra)


@pytest.fixture(autouse=True)
def _fresh_window():
    responders._tsa_window.clear()
    yield
    responders._tsa_window.clear()


def test_dsign_itself_on_loopback_gets_a_timestamp(client):
    response = _post(client)
    assert response.status_code == 200
    assert tsp.TimeStampResp.load(response.content)["status"]["status"].native == "granted"


def test_an_outside_client_is_refused(client):
    response = _post(client, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 403
    assert "allowed clients" in response.content.decode()


def test_listed_networks_credentials_and_signed_in_users_are_allowed(client, settings, personas):
    settings.TSA_ALLOWED_NETWORKS = ["203.0.113.0/24"]
    assert _post(client, REMOTE_ADDR="203.0.113.7").status_code == 200
    assert _post(client, REMOTE_ADDR="198.51.100.9").status_code == 403

    settings.TSA_USERNAME, settings.TSA_PASSWORD = "dsign", "tsa-secret"
    basic = "Basic " + base64.b64encode(b"dsign:tsa-secret").decode()
    assert _post(client, REMOTE_ADDR="198.51.100.9", HTTP_AUTHORIZATION=basic).status_code == 200
    wrong = "Basic " + base64.b64encode(b"dsign:guess").decode()
    assert _post(client, REMOTE_ADDR="198.51.100.9", HTTP_AUTHORIZATION=wrong).status_code == 403

    settings.TSA_ALLOW_AUTHENTICATED = True
    client.force_login(personas["head1"])
    assert _post(client, REMOTE_ADDR="198.51.100.9").status_code == 200


def test_a_client_over_the_rate_limit_gets_429(client, settings):
    settings.TSA_RATE_PER_MINUTE = 3
    statuses = [_post(client).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]

"""What a leaked application key can do: act only for the users and org units listed on its client,
never for staff it does not name; the audit names the client; webhooks reach only the client's own
documents and never the host's loopback or private network."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import OrgUnit
from audit.models import Event
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.services import api_client_create, webhook_emit
from integrations.targets import TargetRefused, target_check
from tests.api.test_webhooks import Receiver

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def as_app(key: str, username: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_X_ON_BEHALF_OF=username)
    return client


def upload(client: APIClient, pdf: bytes):
    return client.post(
        "/api/v1/documents/",
        {
            "file": SimpleUploadedFile("m.pdf", pdf, content_type="application/pdf"),
            "title": "t",
            "workflow": "memo-2-tier",
        },
        format="multipart",
    )


def test_a_key_without_a_list_acts_for_nobody_and_never_for_the_director_or_admin(personas, pdf_bytes):
    _, key = api_client_create(name="e-Saraban", scopes=["documents:create", "documents:read"])
    for username in ("director", "admin", "requester"):
        assert as_app(key, username).get("/api/v1/documents/").status_code == 401
        assert upload(as_app(key, username), pdf_bytes).status_code == 401
    refused = Event.objects.filter(action="access.denied", api_client__startswith="e-Saraban")
    assert refused.count() == 6


def test_a_key_listed_for_one_user_cannot_act_for_another(personas, pdf_bytes):
    client, key = api_client_create(
        name="e-Saraban", scopes=["documents:create", "documents:read"], users=[personas["requester"]]
    )
    assert upload(as_app(key, "requester"), pdf_bytes).status_code == 201
    response = as_app(key, "director").get("/api/v1/documents/")
    assert response.status_code == 401 and "may not act for 'director'" in response.json()["detail"]
    created = Event.objects.filter(action__startswith="document.", actor_repr="requester").first()
    assert created is not None and created.api_client == str(client)  # the client next to the user
    denied = Event.objects.get(action="access.denied", api_client=str(client))
    assert denied.details["status"] == 401 and denied.outcome == "denied"
    from tests.conftest import api_client_for

    listed = api_client_for(personas["auditor"]).get("/api/v1/audit/events/?action=document.").json()["results"]
    assert any(row["actor"] == "requester" and row["api_client"] == str(client) for row in listed)


def test_an_org_unit_covers_its_members_and_units_below_but_not_staff(personas, pdf_bytes):
    requester = personas["requester"]
    top = OrgUnit.objects.create(code="ministry-x", name_th="กระทรวง")
    requester.org_unit.parent = top
    requester.org_unit.save()
    admin = personas["admin"]
    admin.org_unit = requester.org_unit
    admin.save()
    client, key = api_client_create(name="unit app", scopes=["documents:read"], org_units=[top])
    assert as_app(key, "requester").get("/api/v1/documents/").status_code == 200
    assert as_app(key, "admin").get("/api/v1/documents/").status_code == 401  # staff: only when named
    client.allowed_users.add(admin)
    assert as_app(key, "admin").get("/api/v1/documents/").status_code == 200


def test_webhooks_carry_only_the_clients_own_documents(personas, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    mine, theirs = Receiver(), Receiver()
    try:
        for name, receiver, user in (("mine", mine, "requester"), ("theirs", theirs, "head1")):
            client, _ = api_client_create(name=name, scopes=["documents:read"], users=[personas[user]])
            WebhookSubscription.objects.create(
                client=client, url=receiver.url, secret="s", events=["document.rejected"]
            )
        webhook_emit(event="document.rejected", payload={"document": {"id": 1}}, audience=personas["requester"])
        assert len(mine.requests) == 1 and theirs.requests == []
        assert webhook_emit(event="document.rejected", payload={}, audience=personas["director"]) is None
    finally:
        mine.close()
        theirs.close()


def test_webhooks_to_loopback_are_refused_before_any_connection(personas, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    receiver = Receiver()
    try:
        client, _ = api_client_create(name="scanner", scopes=["documents:read"], users=[personas["requester"]])
        subscription = WebhookSubscription.objects.create(
            client=client, url=receiver.url, secret="s", events=["document.rejected"]
        )
        webhook_emit(event="document.rejected", payload={}, audience=personas["requester"])
        delivery = WebhookDelivery.objects.get(subscription=subscription)
        assert delivery.status == "failed" and "loopback" in delivery.last_error
        assert receiver.requests == []
        with pytest.raises(ValidationError):
            subscription.full_clean()

        settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]  # the operator allows a receiver inside the network
        webhook_emit(event="document.rejected", payload={}, audience=personas["requester"])
        assert len(receiver.requests) == 1
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://localhost:8000/",
        "http://LOCALHOST./",
        f"http://{socket.gethostname()}/",  # this machine's own name resolves to loopback or a private address
        "ftp://example.org/",
        "file:///etc/passwd",
    ],
)
def test_targets_on_the_local_network_or_other_schemes_are_refused(url, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    with pytest.raises(TargetRefused):
        target_check(url=url)


def test_a_public_address_passes_the_target_check(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []
    target_check(url="https://93.184.215.14/hooks")


def test_a_delivery_connects_to_the_address_that_was_checked_not_a_second_lookup():
    from integrations.services import _post_pinned

    receiver = Receiver()
    try:
        port = receiver.server.server_port
        # `.invalid` never resolves: the request can only arrive through the pinned, checked address.
        status = _post_pinned(
            url=f"http://hooks.example.invalid:{port}/in?x=1", address="127.0.0.1", body=b"{}", headers={}
        )
        assert status == 204
        assert receiver.requests[0]["headers"]["Host"] == f"hooks.example.invalid:{port}"
    finally:
        receiver.close()

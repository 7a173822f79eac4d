"""Webhooks reach a real HTTP receiver on loopback once per event, signed, and are retried after a 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django_q.models import Schedule

from integrations import tasks
from integrations.models import ApiClient, DeliveryAttempt, WebhookDelivery, WebhookSubscription
from integrations.services import api_client_create, webhook_emit, webhook_signature_verify
from signing.models import PadesLevel
from workflows.models import WorkflowTemplate

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SECRET = "whsec-test-0123456789"


class Receiver:
    """An HTTP server in a thread that records what it receives; `fail_first` answers 500 once."""

    def __init__(self, *, fail_first: int = 0):
        self.requests: list[dict] = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                failing = receiver.fail_first > 0
                receiver.fail_first -= 1
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/dsign"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def events(self, name: str) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests if r["headers"]["X-Dsign-Event"] == name]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def failing_receiver():
    r = Receiver(fail_first=1)
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings):
    # The receivers here listen on loopback, which deliveries refuse unless the operator allows it.
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


def subscribe(url: str, events: list[str], users=None) -> WebhookSubscription:
    from accounts.models import User

    users = users if users is not None else [User.objects.get(username="requester")]
    client, _ = api_client_create(name=f"e-Saraban {url}", scopes=["documents:create"], users=users)
    return WebhookSubscription.objects.create(client=client, url=url, secret=SECRET, events=events)


def signature_ok(request: dict) -> bool:
    """Standard Webhooks, checked here from first principles, not with the code under test."""
    headers = {k.lower(): v for k, v in request["headers"].items()}
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    signed = f"{msg_id}.{timestamp}.".encode() + request["body"]
    expected = "v1," + base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, headers["webhook-signature"]) and abs(time.time() - int(timestamp)) < 300


def upload(client, pdf: bytes) -> int:
    response = client.post(
        "/api/v1/documents/",
        {
            "file": SimpleUploadedFile("m.pdf", pdf, content_type="application/pdf"),
            "title": "memo",
            "workflow": "memo-2-tier",
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_rejection_is_delivered_once_with_a_valid_signature(personas, api_for, pdf_bytes, receiver):
    subscribe(receiver.url, ["document.rejected", "document.completed"])
    document_id = upload(api_for(personas["requester"]), pdf_bytes)
    response = api_for(personas["head1"]).post(
        f"/api/v1/documents/{document_id}/reject/", {"comment": "งบไม่พอ"}, format="json"
    )
    assert response.status_code == 200

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert signature_ok(request)
    body = json.loads(request["body"])
    assert body["event"] == "document.rejected"
    assert body["data"]["document"]["id"] == document_id
    assert body["data"]["document"]["status"] == "rejected"
    assert body["data"]["comment"] == "งบไม่พอ"
    assert request["headers"]["webhook-id"] == body["id"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered" and delivery.attempts == 1
    assert list(delivery.attempts_log.values_list("outcome", "response_status")) == [("success", 204)]

    # A duplicate task (django-q2 may deliver one twice) and the sweeper send nothing more.
    assert tasks.deliver_webhook(delivery.pk) == "delivered"
    assert tasks.resume_webhook_deliveries() == 0
    assert len(receiver.requests) == 1


def test_a_500_is_retried_with_backoff_and_the_retry_succeeds(personas, api_for, pdf_bytes, failing_receiver):
    subscribe(failing_receiver.url, ["document.rejected"])
    document_id = upload(api_for(personas["requester"]), pdf_bytes)
    api_for(personas["head2"]).post(f"/api/v1/documents/{document_id}/reject/", {"comment": "no"}, format="json")

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "retrying" and delivery.attempts == 1
    assert "HTTP 500" in delivery.last_error
    wait = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=20) < wait <= timedelta(seconds=30)
    retry = Schedule.objects.get(func="integrations.tasks.deliver_webhook")
    assert retry.args == str(delivery.pk) and retry.schedule_type == Schedule.ONCE
    assert abs(retry.next_run - delivery.next_attempt_at) < timedelta(seconds=1)

    # Not due yet: the scheduled task running early changes nothing.
    assert tasks.deliver_webhook(delivery.pk) == "retrying"
    assert len(failing_receiver.requests) == 1

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert tasks.deliver_webhook(delivery.pk) == "delivered"
    first, second = failing_receiver.requests
    assert first["body"] == second["body"]  # same event id: the receiver can dedupe
    assert signature_ok(second)
    assert second["headers"]["X-Dsign-Delivery-Attempt"] == "2"
    outcomes = list(DeliveryAttempt.objects.order_by("number").values_list("outcome", "response_status"))
    assert outcomes == [("transient", 500), ("success", 204)]
    assert tasks.deliver_webhook(delivery.pk) == "delivered"
    assert len(failing_receiver.requests) == 2


def test_a_refused_delivery_is_not_retried_and_an_unreachable_one_is(personas):
    requester = personas["requester"]
    subscription = subscribe("http://127.0.0.1:9/unreachable", ["certificate.expiring"])
    webhook_emit(event="certificate.expiring", payload={"certificate": 1, "days_left": 7}, audience=requester)
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    assert delivery.status == "retrying" and "NewConnectionError" in delivery.last_error

    class Gone(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(410)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gone)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        gone = subscribe(f"http://127.0.0.1:{server.server_port}/", ["certificate.expiring"])
        webhook_emit(event="certificate.expiring", payload={"certificate": 2, "days_left": 1}, audience=requester)
        assert WebhookDelivery.objects.get(subscription=gone).status == "failed"
    finally:
        server.shutdown()
        server.server_close()


def test_events_nobody_subscribed_to_are_not_recorded_and_inactive_clients_get_nothing(personas, receiver):
    subscription = subscribe(receiver.url, ["document.completed"])
    requester = personas["requester"]
    assert webhook_emit(event="document.rejected", payload={}, audience=requester) is None
    ApiClient.objects.filter(pk=subscription.client_id).update(active=False)
    assert webhook_emit(event="document.completed", payload={}, audience=requester) is None
    assert receiver.requests == []
    with pytest.raises(ValueError):
        webhook_emit(event="document.exploded", payload={}, audience=requester)


def test_signatures_follow_standard_webhooks_and_the_helper_rejects_tampering_and_old_timestamps():
    from integrations.services import webhook_signature

    # The example of the Standard Webhooks specification (whsec_ secrets are base64 keys).
    secret, msg_id, body = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        b'{"test": 2432232314}',
    )
    header = webhook_signature(secret=secret, msg_id=msg_id, timestamp=1614265330, body=body)
    assert header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {"webhook-id": msg_id, "webhook-timestamp": "1614265330", "webhook-signature": f"v1,bad {header}"}
    assert webhook_signature_verify(secret=secret, headers=headers, body=body, now=1614265340)
    assert not webhook_signature_verify(secret=secret, headers=headers, body=body + b" ", now=1614265340)
    assert not webhook_signature_verify(secret="whsec_b3RoZXI=", headers=headers, body=body, now=1614265340)
    assert not webhook_signature_verify(secret=secret, headers=headers, body=body, now=1614266340)
    assert not webhook_signature_verify(secret=secret, headers={"webhook-id": msg_id}, body=body)
    replayed = {**headers, "webhook-id": "msg_other"}
    assert not webhook_signature_verify(secret=secret, headers=replayed, body=body, now=1614265340)


@pytest.mark.hsm
def test_tier_completion_is_delivered_once_however_the_approvals_arrive(personas, api_for, pdf_bytes, otp, receiver):
    WorkflowTemplate.objects.filter(code="memo-2-tier").update(pades_level=PadesLevel.B_B)
    subscribe(receiver.url, ["tier.completed"])
    document_id = upload(api_for(personas["requester"]), pdf_bytes)
    for head in ("head1", "head3"):
        response = api_for(personas[head]).post(
            f"/api/v1/documents/{document_id}/approve/", {"otp": otp(personas[head])}, format="json"
        )
        assert response.status_code == 202, response.content
    late = api_for(personas["head2"]).post(
        f"/api/v1/documents/{document_id}/approve/", {"otp": otp(personas["head2"])}, format="json"
    )
    assert late.status_code == 409
    events = receiver.events("tier.completed")
    assert len(events) == 1 and events[0]["data"]["tier"] == 1
    assert all(signature_ok(r) for r in receiver.requests)

"""Issue 17: verifications are admitted per user and in total; over the limit the doors answer 429 with a
message and a code, and nothing is left counted afterwards."""

import os
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from signing import verification_sandbox
from signing.verification_sandbox import VerifierBusy, verification_slot

pytestmark = pytest.mark.django_db


def test_slots_per_user_and_in_total(settings):
    settings.REDIS_URL = ""
    settings.VERIFY_MAX_CONCURRENT, settings.VERIFY_MAX_CONCURRENT_PER_USER = 3, 2
    with verification_slot(user_key="a"), verification_slot(user_key="a"):
        with pytest.raises(VerifierBusy) as busy:
            with verification_slot(user_key="a"):
                pass
        assert busy.value.scope == "user"
        with verification_slot(user_key="b"):
            with pytest.raises(VerifierBusy) as busy:
                with verification_slot(user_key="c"):
                    pass
            assert busy.value.scope == "total"
    with verification_slot(user_key="a"), verification_slot(user_key="a"), verification_slot(user_key="c"):
        pass  # everything was released


def test_slots_are_shared_through_redis(settings):
    settings.REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/7")  # make test: its own Redis
    settings.VERIFY_MAX_CONCURRENT, settings.VERIFY_MAX_CONCURRENT_PER_USER = 2, 1
    verification_sandbox._redis_clients.clear()
    import redis

    redis.Redis.from_url(settings.REDIS_URL).delete(
        "dsign:verify:slots", "dsign:verify:slots:u1", "dsign:verify:slots:u2"
    )
    with verification_slot(user_key="u1"):
        with pytest.raises(VerifierBusy):
            with verification_slot(user_key="u1"):
                pass
        with verification_slot(user_key="u2"):
            with pytest.raises(VerifierBusy):
                with verification_slot(user_key="u3"):
                    pass
    with verification_slot(user_key="u1"), verification_slot(user_key="u2"):
        pass


def test_the_api_answers_429_with_a_code_when_the_user_is_over_the_limit(settings, personas, api_for, pdf_bytes):
    settings.REDIS_URL = ""
    settings.VERIFY_MAX_CONCURRENT_PER_USER = 1
    user = personas["auditor"]
    holding, release = threading.Event(), threading.Event()

    def hold():
        with verification_slot(user_key=str(user.pk)):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        holding.wait(10)
        response = api_for(user).post(
            "/api/v1/verify/", {"file": SimpleUploadedFile("a.pdf", pdf_bytes)}, format="multipart"
        )
    finally:
        release.set()
        thread.join()
    assert response.status_code == 429
    assert response.json()["code"] == "verifier_busy" and response.json()["detail"]
    again = api_for(user).post("/api/v1/verify/", {"file": SimpleUploadedFile("a.pdf", pdf_bytes)}, format="multipart")
    assert again.status_code == 200


def test_the_verify_page_answers_429_with_the_reason_in_the_form(settings, personas, client, pdf_bytes):
    settings.REDIS_URL = ""
    settings.VERIFY_MAX_CONCURRENT_PER_USER = 1
    user = personas["auditor"]
    client.force_login(user)
    with verification_slot(user_key=str(user.pk)):
        response = client.post("/verify/", {"file": SimpleUploadedFile("a.pdf", pdf_bytes)})
    assert response.status_code == 429
    assert "คุณมีการตรวจสอบเอกสารที่กำลังทำงานอยู่แล้ว" in response.content.decode()  # said in Thai, in the form

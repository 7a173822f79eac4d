"""One approval service behind every door: the REST API and the office page refuse and accept exactly the
same cases, with the same reason, because both only parse the request and call `decision_approve`."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice

from tests.conftest import api_client_for, blank_pdf, make_otp
from workflows import selectors, services
from workflows.models import Assignment, AssignmentStatus, WorkflowTemplate

CODE = "135790"


def _start(personas):
    template = WorkflowTemplate.objects.get(code="memo-2-tier")
    return services.route_start(title="ขออนุมัติ", pdf=blank_pdf(), template=template, actor=personas["requester"])


def _seat(document, username: str) -> str:
    return Assignment.objects.get(document=document, signer__username=username).status


def through_api(user, document, code: str) -> tuple[bool, str, str]:
    response = api_client_for(user).post(f"/api/v1/documents/{document.pk}/approve/", {"otp": code}, format="json")
    body = response.json()
    accepted = response.status_code == 202
    return accepted, "" if accepted else body["detail"], "" if accepted else body["code"]


def _shown(document) -> str:
    """The SHA-256 the office page puts in its hidden `sha256` field (the version it shows)."""
    return selectors.latest_version(document).sha256


def through_office(user, document, code: str) -> tuple[bool, str, str]:
    client = Client()
    client.force_login(user)
    response = client.post(f"/documents/{document.pk}/approve/", {"otp": code, "sha256": _shown(document)})
    if response.status_code == 302:
        return True, "", ""
    # A refusal shows the page again (the typed comment kept) with the reason, in the OTP dialog or above it.
    assert response.status_code in (400, 403, 404, 409, 429)
    return False, response.context.get("otp_error") or response.context.get("decision_error"), ""


def _unlock(user) -> None:
    StaticDevice.objects.filter(user=user).update(throttling_failure_timestamp=None, throttling_failure_count=0)


def _cases(personas, door) -> dict[str, tuple[bool, str, str]]:
    head1, head2, head3, director = (personas[n] for n in ("head1", "head2", "head3", "director"))
    for user in (head1, head2, head3, director):  # each door starts from the same devices, none locked
        make_otp(user, "864200")
        _unlock(user)
    outcomes = {}

    document = _start(personas)
    outcomes["wrong seat"] = door(director, document, make_otp(director, CODE))
    assert _seat(document, "director") == AssignmentStatus.PENDING

    outcomes["wrong code"] = door(head1, document, "000000")
    assert _seat(document, "head1") == AssignmentStatus.PENDING
    _unlock(head1)  # a wrong code locks the device for a second (django-otp throttling)

    outcomes["accepted"] = door(head1, document, make_otp(head1, CODE))
    assert _seat(document, "head1") == AssignmentStatus.APPROVED

    other = _start(personas)
    outcomes["reused code"] = door(head1, other, CODE)  # the backup code was spent on the first approval
    assert _seat(other, "head1") == AssignmentStatus.PENDING

    services.decision_approve(document=document, actor=head2, otp=make_otp(head2, CODE))
    # Tier 1 has the two approvals it takes; head3's seat stays open in case a signature fails.
    outcomes["closed tier"] = door(head3, document, make_otp(head3, CODE))
    assert _seat(document, "head3") == AssignmentStatus.PENDING
    return outcomes


@pytest.mark.django_db
def test_api_and_office_refuse_and_accept_the_same_cases_for_the_same_reasons(personas):
    api = _cases(personas, through_api)
    office = _cases(personas, through_office)

    assert {case: outcome[0] for case, outcome in api.items()} == {
        "wrong seat": False,
        "wrong code": False,
        "accepted": True,
        "reused code": False,
        "closed tier": False,
    }
    assert {case: outcome[:2] for case, outcome in api.items()} == {case: o[:2] for case, o in office.items()}
    assert {case: outcome[2] for case, outcome in api.items()} == {
        "wrong seat": "not_your_turn",
        "wrong code": "step_up_failed",
        "accepted": "",
        "reused code": "step_up_failed",
        "closed tier": "already_decided",
    }


@pytest.mark.django_db
def test_a_refused_seat_does_not_spend_the_code(personas):
    """The seat is checked before the step-up: a refused approval leaves the code usable."""
    director = personas["director"]
    document = _start(personas)
    with pytest.raises(services.NotYourTurn):
        services.decision_approve(document=document, actor=director, otp=make_otp(director, CODE))
    # The code is sealed for the signer (the table holds no plaintext): it still opens a step-up.
    from accounts.services import mfa_step_up

    assert mfa_step_up(user=director, code=CODE, purpose="test")


@pytest.mark.django_db
def test_the_batch_doors_call_the_same_service(personas):
    """A wrong code refuses the whole batch in the API and in the office page alike."""
    head1 = personas["head1"]
    documents = [_start(personas), _start(personas)]
    make_otp(head1, CODE)
    api = api_client_for(head1).post(
        "/api/v1/batches/", {"documents": [d.pk for d in documents], "otp": "000000"}, format="json"
    )
    _unlock(head1)
    client = Client()
    client.force_login(head1)
    office = client.post("/batches/", {"documents": [d.pk for d in documents], "otp": "000000"})
    assert api.status_code == office.status_code == 403
    assert api.json()["code"] == "step_up_failed" and api.json()["detail"] in office.content.decode()
    assert all(_seat(d, "head1") == AssignmentStatus.PENDING for d in documents)

    _unlock(head1)
    shown = {f"sha256_{d.pk}": _shown(d) for d in documents}  # the inbox's hidden fields
    accepted = client.post("/batches/", {"documents": [d.pk for d in documents], "otp": CODE, **shown})
    assert accepted.status_code == 200
    assert all(_seat(d, "head1") == AssignmentStatus.APPROVED for d in documents)


@pytest.mark.django_db
def test_a_refusal_is_in_thai_with_a_stable_code_for_machines(personas):
    director = personas["director"]
    document = _start(personas)
    client = api_client_for(director)
    url = f"/api/v1/documents/{document.pk}/approve/"
    thai = client.post(url, {"otp": "000000"}, format="json")
    english = client.post(url, {"otp": "000000"}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert thai.status_code == english.status_code == 403
    assert thai.json()["code"] == english.json()["code"] == "not_your_turn"
    assert thai.json()["detail"].startswith("ยังไม่ถึงลำดับของท่าน")
    assert english.json()["detail"] == "It is not your turn yet: an earlier tier has not finished."

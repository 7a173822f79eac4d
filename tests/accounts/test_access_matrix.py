"""Object-level access: every document endpoint × every kind of user.

A document is visible to its participants (requester, signers of any tier) and to auditors and IT admins;
anyone else gets 404 — the same answer as for a document that does not exist, so ids leak nothing.
Auditors and IT admins read but never decide.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts.models import Role, User
from workflows.models import Assignment, Document

pytestmark = pytest.mark.django_db

READS = ["detail", "file", "timeline", "versions"]
DECISIONS = ["approve", "reject", "return", "recall"]
PATHS = {
    "detail": "/api/v1/documents/{pk}/",
    "file": "/api/v1/documents/{pk}/file/",
    "timeline": "/api/v1/documents/{pk}/timeline/",
    "versions": "/api/v1/documents/{pk}/versions/",
    "approve": "/api/v1/documents/{pk}/approve/",
    "reject": "/api/v1/documents/{pk}/reject/",
    "return": "/api/v1/documents/{pk}/return/",
    "recall": "/api/v1/documents/{pk}/recall/",
}


def _user_with_role(username: str, role: str) -> User:
    user = User.objects.create_user(username, password="demo-pass-2026", first_name_th=username)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def actors(personas, outsider):
    return {
        "requester": personas["requester"],
        "other_tier_signer": personas["director"],  # a signer of tier 2 while tier 1 is active
        "outsider": outsider,
        "auditor": personas["auditor"],
        "it_admin": _user_with_role("itadmin2", Role.IT_ADMIN),
        "ca_officer": _user_with_role("caofficer", Role.CA_OFFICER),
    }


def _call(client, endpoint: str, pk: int, code: str) -> int:
    path = PATHS[endpoint].format(pk=pk)
    if endpoint in READS:
        return client.get(path).status_code
    body = {"otp": code, "comment": "matrix"} if endpoint == "approve" else {"comment": "matrix"}
    return client.post(path, body, format="json").status_code


EXPECTED = {
    #                    detail file timeline versions | approve reject return recall
    "requester": ([200, 200, 200, 200], [404, 404, 404, None]),
    "other_tier_signer": ([200, 200, 200, 200], [403, 403, 403, 404]),
    "outsider": ([404, 404, 404, 404], [404, 404, 404, 404]),
    "auditor": ([200, 200, 200, 200], [404, 404, 404, 404]),
    "it_admin": ([200, 200, 200, 200], [404, 404, 404, 404]),
    "ca_officer": ([404, 404, 404, 404], [404, 404, 404, 404]),
}


@pytest.mark.parametrize("actor", list(EXPECTED))
def test_document_endpoints_answer_by_participation(actor, actors, api_for, otp, document_in_progress):
    user = actors[actor]
    client = api_for(user)
    code = otp(user)
    pk = document_in_progress.pk

    reads = [_call(client, endpoint, pk, code) for endpoint in READS]
    decisions = [_call(client, endpoint, pk, code) for endpoint in DECISIONS if endpoint != "recall"]
    document = Document.objects.get(pk=pk)
    # Nobody in this table may decide: the document is untouched by every refused call.
    assert document.status == "in_progress"
    assert set(Assignment.objects.filter(document=document).values_list("status", flat=True)) == {"pending"}
    recall = _call(client, "recall", pk, code)

    expected_reads, expected_decisions = EXPECTED[actor]
    assert reads == expected_reads
    assert decisions == expected_decisions[:3]
    if actor == "requester":
        assert recall == 200  # the requester alone may withdraw the document
    else:
        assert recall == expected_decisions[3]
        assert Document.objects.get(pk=pk).status == "in_progress"


@pytest.mark.parametrize("actor", ["outsider", "ca_officer"])
def test_non_participants_do_not_see_the_document_in_lists(actor, actors, api_for, document_in_progress):
    listed = api_for(actors[actor]).get("/api/v1/documents/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert document_in_progress.pk not in [row["id"] for row in rows]


def test_unknown_document_and_foreign_document_look_the_same(actors, api_for, document_in_progress):
    client = api_for(actors["outsider"])
    foreign = client.get(f"/api/v1/documents/{document_in_progress.pk}/")
    missing = client.get("/api/v1/documents/999999/")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()

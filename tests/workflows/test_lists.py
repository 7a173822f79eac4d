"""The lists read from `DocumentAccess` and keyset pages: who sees what under every change of a route,
cursors nobody can bend, and a page that costs the same queries with 1 or 30 documents."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import signing
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from tests.conftest import api_client_for, blank_pdf
from workflows import selectors, services
from workflows.models import Assignment, Delegation, Document, DocumentAccess, WorkflowTemplate


def start(personas, title="บันทึกข้อความ ขออนุมัติ", requester="requester", template="memo-2-tier") -> Document:
    template = WorkflowTemplate.objects.get(code=template)
    return services.route_start(title=title, pdf=blank_pdf(), template=template, actor=personas[requester])


def director_only(personas) -> str:
    """A one-tier template only the director signs (the heads take no part in its documents)."""
    template = WorkflowTemplate.objects.create(code="director-only", name="ผู้อำนวยการลงนาม")
    template.tiers.create(order=1, name="ผู้อำนวยการ", quorum=1).signers.add(personas["director"])
    return template.code


def oracle(user: User) -> set[int]:
    """Who takes part, straight from the routes (the rule the table materialises): requester, seat holder,
    decider, or the holder's delegate while the delegation runs; audit roles see everything."""
    if selectors.can_see_all(user):
        return set(Document.objects.values_list("pk", flat=True))
    return set(Document.objects.filter(selectors.visible_documents_q(user)).values_list("pk", flat=True))


def listed(user: User, **arguments) -> list[int]:
    """Every document id of the person's list, walking its pages by cursor (3 a page)."""
    ids, cursor = [], None
    while True:
        rows, cursor = selectors.documents_page(user=user, cursor=cursor, size=3, **arguments)
        ids += [d.pk for d in rows]
        if cursor is None:
            return ids


def assert_everyone_sees_exactly_their_documents(users) -> None:
    for user in users:
        ids = listed(user)
        assert len(ids) == len(set(ids)), f"{user.username} gets a document twice"
        assert set(ids) == oracle(user), user.username
        assert set(selectors.documents_visible_to(user).values_list("pk", flat=True)) == oracle(user), user.username
        api = api_client_for(user)
        for document in Document.objects.all():
            status = api.get(f"/api/v1/documents/{document.pk}/").status_code
            assert status == (200 if document.pk in oracle(user) else 404), (user.username, document.pk, status)


@pytest.fixture
def everyone(personas, outsider):
    return [*personas.values(), outsider]


def test_nobody_sees_a_document_they_take_no_part_in_through_every_change_of_its_route(personas, everyone):
    admin, head1, head2 = personas["admin"], personas["head1"], personas["head2"]
    first, second, third = start(personas, "เรื่องแรก"), start(personas, "เรื่องที่สอง"), start(personas, "เรื่องที่สาม")
    apart = start(personas, "ของผู้อำนวยการ", template=director_only(personas))
    assert_everyone_sees_exactly_their_documents(everyone)
    outsider = everyone[-1]
    assert listed(outsider) == [] and listed(head1) == [third.pk, second.pk, first.pk]
    assert listed(personas["director"]) == [apart.pk, third.pk, second.pk, first.pk]

    # A seat reassigned: the new holder sees the document, the old one no longer does.
    seat = Assignment.objects.get(document=first, signer=personas["head3"])
    services.assignment_reassign(assignment=seat, new_signer=outsider, actor=admin, reason="ย้ายหน่วยงาน")
    assert first.pk in listed(outsider) and first.pk not in listed(personas["head3"])
    assert_everyone_sees_exactly_their_documents(everyone)

    # A delegate sees the delegator's seats while the delegation runs; deciding keeps them in it afterwards.
    now = timezone.now()
    delegation = services.delegation_create(
        delegator=head1, delegate=personas["director"], starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1), kind="acting_for", actor=head1,
    )  # fmt: skip
    helper = User.objects.create_user("helper", password="demo-pass-2026", first_name_th="ผู้ช่วย")
    services.delegation_create(
        delegator=head2, delegate=helper, starts_at=now - timedelta(hours=1), ends_at=now + timedelta(days=1),
        kind="acting_for", actor=head2,
    )  # fmt: skip
    everyone.append(helper)
    assert set(listed(helper)) == {first.pk, second.pk, third.pk}
    services.decision_reject(document=second, actor=helper, comment="ไม่มีงบประมาณ")  # for head2
    assert_everyone_sees_exactly_their_documents(everyone)
    services.delegation_revoke(delegation=delegation, actor=head1)
    # The helper's delegation runs out: only what they decided stays in their list.
    Delegation.objects.filter(delegator=head2).update(ends_at=timezone.now() - timedelta(seconds=1))
    assert listed(helper) == [second.pk]
    assert_everyone_sees_exactly_their_documents(everyone)

    # Recall, cancel, return and resubmit change no one's part in the route.
    services.route_recall(document=third, actor=personas["requester"], reason="ส่งผิดเรื่อง")
    services.route_cancel(document=first, actor=admin, reason="ซ้ำกับฉบับอื่น")
    fourth = start(personas, "เรื่องที่สี่")
    services.decision_return(document=fourth, actor=head1, comment="แก้ไขวันที่")
    services.route_resubmit(document=fourth, actor=personas["requester"], comment="แก้แล้ว")
    assert_everyone_sees_exactly_their_documents(everyone)
    # The table holds the same rows a rebuild from the routes would write.
    before = set(DocumentAccess.objects.values_list("user_id", "document_id", "requester", "seat"))
    services.document_access_rebuild()
    assert set(DocumentAccess.objects.values_list("user_id", "document_id", "requester", "seat")) == before


def test_a_failed_signature_takes_a_delegates_decision_and_their_view_back(personas):
    from signing.models import SigningJob
    from workflows import signing_handler

    document = start(personas)
    delegate = User.objects.create_user("delegate", password="demo-pass-2026", first_name_th="ผู้แทน")
    now = timezone.now()
    services.delegation_create(
        delegator=personas["head1"], delegate=delegate, starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1), kind="acting_for", actor=personas["head1"],
    )  # fmt: skip
    seat = Assignment.objects.get(document=document, signer=personas["head1"])
    job = SigningJob.objects.create(handler=selectors.SIGNING_HANDLER, subject_id=document.pk, field_name="x")
    Assignment.objects.filter(pk=seat.pk).update(status="approved", decided_by=delegate, signing_job_id=job.pk)
    services.document_access_decided(document=document, seat=seat, actor=delegate)
    Delegation.objects.update(ends_at=timezone.now() - timedelta(seconds=1))
    assert listed(delegate) == [document.pk]  # they decided it
    job.error_code, job.error_message = "hsm_down", "HSM unavailable"
    signing_handler.job_failed(job=job)
    assert Assignment.objects.get(pk=seat.pk).decided_by is None
    assert listed(delegate) == [] and oracle(delegate) == set()


def test_a_delegate_who_also_holds_seats_gets_each_document_once_on_every_page(personas):
    documents = [start(personas, f"เรื่องที่ {n}") for n in range(8)]
    now = timezone.now()
    # head2 acts for head1 and both sit in tier 1 of every document: two access rows per document.
    services.delegation_create(
        delegator=personas["head1"], delegate=personas["head2"], starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=1), kind="acting_for", actor=personas["head1"],
    )  # fmt: skip
    ids = listed(personas["head2"])
    assert ids == [d.pk for d in reversed(documents)]
    assert listed(personas["head2"], sort="oldest") == [d.pk for d in documents]
    assert listed(personas["head2"], sort="title") == [d.pk for d in sorted(documents, key=lambda d: d.title)]


def _cursor(response) -> str:
    from urllib.parse import parse_qs, urlparse

    return parse_qs(urlparse(response.json()["next"]).query)["cursor"][0]


def test_a_bent_cursor_is_refused_with_400_never_another_persons_rows(personas, client):
    for n in range(3):
        start(personas, f"เรื่องที่ {n}")
    start(personas, "ของคนอื่น", requester="head3")  # head3 requests; requester takes no part
    requester, head1 = api_client_for(personas["requester"]), api_client_for(personas["head1"])
    cursor = _cursor(requester.get("/api/v1/documents/", {"limit": 1}))
    assert requester.get("/api/v1/documents/", {"limit": 1, "cursor": cursor}).status_code == 200
    value, signature = cursor.rsplit(":", 1)
    salt = f"workflows.documents:{personas['requester'].pk}::newest"
    forged_values = signing.dumps(["2100-01-01T00:00:00+00:00", 2**62], salt=salt, key="a guess, not the server's key")
    bent = [
        value[:-1] + ("A" if value[-1] != "A" else "B") + ":" + signature,  # the sort values altered
        value + ":" + signature[::-1],  # the signature altered
        forged_values,  # signed with a guessed salt, not the server's key and salt
        "x" * 5000,
        "",
    ]
    for wrong in bent[:-1]:
        response = requester.get("/api/v1/documents/", {"cursor": wrong})
        assert response.status_code == 400 and response.json()["code"] == "invalid_cursor", wrong[:40]
    # Someone else's cursor, another list's or another sort's: refused as well.
    assert head1.get("/api/v1/documents/", {"cursor": cursor}).json()["code"] == "invalid_cursor"
    assert requester.get("/api/v1/inbox/", {"cursor": cursor}).status_code == 400
    assert requester.get("/api/v1/documents/", {"cursor": cursor, "sort": "title"}).status_code == 400
    assert requester.get("/api/v1/documents/", {"cursor": cursor, "role": "signer"}).status_code == 400
    # The office pages refuse it too (Thai message, 400).
    client.force_login(personas["requester"])
    page = client.get("/documents/", {"cursor": bent[0]})
    assert page.status_code == 400 and "ตำแหน่งหน้าของรายการนี้ไม่ถูกต้อง" in page.content.decode()
    # Even a cursor the server signed, placed anywhere, only says where to start in the person's own rows.
    anywhere = signing.dumps(["2100-01-01T00:00:00+00:00", 2**62], salt=salt)
    titles = [d["title"] for d in requester.get("/api/v1/documents/", {"cursor": anywhere}).json()["results"]]
    assert sorted(titles) == ["เรื่องที่ 0", "เรื่องที่ 1", "เรื่องที่ 2"]


def _queries(client, path: str) -> list[str]:
    """The SQL of one request, without the throttle's cache: the tests keep Django's cache in the database,
    a deployment in Redis (no SQL), and its reads vary with the cache's own housekeeping."""
    client.get(path)  # per-process caches (roles, branding, translations) warm once
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return [
        q["sql"]
        for q in queries.captured_queries
        if "dsign_cache" not in q["sql"] and not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]


def test_a_list_page_and_an_inbox_page_cost_the_same_few_queries_with_1_or_30_documents(personas, client):
    start(personas)
    pages = {
        ("requester", "/api/v1/documents/?limit=20"): 3,
        ("head1", "/api/v1/documents/?limit=20"): 3,
        ("head1", "/api/v1/inbox/"): 2,
        ("auditor", "/api/v1/documents/?limit=20"): 3,
    }
    apis = {user: api_client_for(personas[user]) for user, _ in pages}
    one = {key: _queries(apis[key[0]], key[1]) for key in pages}
    client.force_login(personas["head1"])
    office = ["/inbox/", "/documents/decided/"]
    office_one = {path: len(_queries(client, path)) for path in office}
    for n in range(29):
        start(personas, f"เรื่องที่ {n}")
    for key, most in pages.items():
        thirty = _queries(apis[key[0]], key[1])
        assert len(thirty) == len(one[key]) <= most, (key, "\n".join(one[key]), "\n".join(thirty))
    assert {path: len(_queries(client, path)) for path in office} == office_one
    # My documents (the requester's office list, with whom each one waits for) too.
    client.force_login(personas["requester"])
    assert len(_queries(client, "/documents/")) == len(_queries(client, "/documents/?sort=title"))
    page = apis["requester"].get("/api/v1/documents/", {"limit": 20}).json()
    assert len(page["results"]) == 20 and page["next"] and "tiers" not in page["results"][0]


def test_inbox_search_finds_short_and_common_words_among_the_persons_rows_page_by_page(personas):
    documents = [start(personas, f"ขออนุมัติ เรื่อง {n:02d}") for n in range(12)]
    start(personas, "ของหน่วยอื่น ab 11", template=director_only(personas))  # head1 takes no part in it
    head1 = personas["head1"]

    def search(q: str, size: int = 5) -> list[int]:
        ids, cursor = [], None
        while True:
            seats, cursor = selectors.inbox_page(user=head1, q=q, cursor=cursor, size=size)
            ids += [s.document_id for s in seats]
            if cursor is None:
                return ids

    def expected(q: str) -> list[int]:  # each word in the title, or a number that is the document's
        return [d.pk for d in documents if all(w in d.title or w == str(d.pk) for w in q.split())]

    everything = [d.pk for d in documents]
    assert search("ขออนุมัติ") == everything  # a word in every title
    assert search("ขออนุมัติ 1") == expected("ขออนุมัติ 1")  # plus a 1-character word
    assert documents[11].pk in search("11") == expected("11")  # a 2-character word (no trigram)
    assert search("ab") == [] and search("ไม่มีเรื่องนี้") == []
    assert search(f"#{documents[7].pk}") == [documents[7].pk]
    assert search(personas["requester"].first_name_th, size=100) == everything
    api = api_client_for(head1).get("/api/v1/inbox/", {"q": "ขออนุมัติ 0", "limit": 3}).json()
    assert [i["document"]["id"] for i in api["results"]] == expected("ขออนุมัติ 0")[:3]


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the title's trigram index: PostgreSQL only")
def test_on_postgresql_the_search_is_one_page_query_the_title_index_can_serve(personas):
    documents = [start(personas, f"ขออนุมัติ เรื่อง {n:03d}") for n in range(8)]
    documents.append(start(personas, "ขออนุมัติ จัดซื้อครุภัณฑ์"))
    other = start(personas, "ขออนุมัติ จัดซื้อครุภัณฑ์ ของหน่วยอื่น", template=director_only(personas))
    with CaptureQueriesContext(connection) as queries:
        seats, following = selectors.inbox_page(user=personas["head1"], q="ขออนุมัติ ครุภัณฑ์", size=5)
    assert [s.document_id for s in seats] == [documents[8].pk] and following is None
    assert other.pk not in [s.document_id for s in seats]
    pages = [q["sql"] for q in queries.captured_queries if "workflows_assignment" in q["sql"]]
    assert len(pages) == 1 and "COUNT(" not in pages[0] and "LIMIT 6" in pages[0]
    # The form the trigram index was made for (migration 0007): UPPER(title) LIKE UPPER(…).
    assert re.search(r'UPPER\(\w+\."title"::text\) LIKE UPPER', pages[0])
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'document_title_trgm'")
        assert "gin_trgm_ops" in cursor.fetchone()[0]

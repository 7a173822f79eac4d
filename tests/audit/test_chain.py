"""The event log is append-only and tamper-evident: audit_verify names the first changed or missing row."""

import pytest
from django.core.management import call_command
from django.db import connection, transaction

import audit
from audit.models import Event
from audit.services import chain_verify

pytestmark = pytest.mark.django_db


def _record(n: int) -> list[Event]:
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(audit.record(action="document.test", target=("workflows.document", i), details={"i": i}))
    return events


def _verify_exit(capsys) -> tuple[int, str]:
    try:
        call_command("audit_verify")
    except SystemExit as exc:
        return exc.code, capsys.readouterr().err
    return 0, capsys.readouterr().out


def test_intact_chain_exits_zero(capsys):
    _record(3)
    code, output = _verify_exit(capsys)
    assert code == 0 and "intact" in output


def test_changing_one_row_with_raw_sql_exits_one_naming_it(capsys):
    victim = _record(5)[2]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_event SET actor_repr = 'mallory' WHERE id = %s", [victim.pk])
    code, output = _verify_exit(capsys)
    assert code == 1
    assert f"event #{victim.pk}:" in output and "changed" in output


def test_deleting_one_row_with_raw_sql_exits_one_naming_it(capsys):
    victim = _record(5)[1]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_event WHERE id = %s", [victim.pk])
    code, output = _verify_exit(capsys)
    assert code == 1
    assert f"event #{victim.pk}:" in output and "missing" in output


def test_deleting_the_newest_row_is_noticed_through_the_chain_head(capsys):
    victim = _record(3)[-1]
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_event WHERE id = %s", [victim.pk])
    problem = chain_verify()
    assert problem is not None and problem.event_id == victim.pk


def test_the_orm_refuses_update_and_delete():
    event = _record(1)[0]
    with pytest.raises(PermissionError):
        Event.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(PermissionError):
        Event.objects.filter(pk=event.pk).delete()
    with pytest.raises(PermissionError):
        event.delete()
    event.action = "x"
    with pytest.raises(PermissionError):
        event.save()


def test_deleting_a_user_leaves_their_events_and_the_chain_intact(outsider):
    with transaction.atomic():
        event = audit.record(actor=outsider, action="accounts.login", target=outsider)
    outsider.delete()
    assert Event.objects.get(pk=event.pk).actor_repr == "outsider"
    assert chain_verify() is None


@pytest.mark.postgres
def test_postgres_trigger_refuses_raw_update_and_delete():
    if connection.vendor != "postgresql":
        pytest.skip("the trigger exists on PostgreSQL only")
    from django.db import DatabaseError

    event = _record(1)[0]
    for statement in ("UPDATE audit_event SET action = 'x' WHERE id = %s", "DELETE FROM audit_event WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(statement, [event.pk])
    assert Event.objects.get(pk=event.pk).action == "document.test"

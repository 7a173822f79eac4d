"""Sign-in against a real OpenLDAP slapd: users created with Thai names, nested groups become roles."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate

from accounts.auth_settings import ldap_settings
from accounts.models import LoginEvent, Role, User
from tests.support import ldap_server

pytestmark = [pytest.mark.ldap, pytest.mark.django_db]


@pytest.fixture(scope="session")
def directory(tmp_path_factory):
    server = ldap_server.start_directory(workdir=tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


@pytest.fixture
def ldap_on(settings, directory):
    for name, value in ldap_settings(ldap_server.environment(directory)).items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "accounts.ldap.DirectoryBackend",
    ]
    return directory


def test_directory_user_is_created_with_thai_names_and_nested_group_role(ldap_on):
    user = authenticate(username="somchai.k", password="Ldap-pass-1")

    assert user is not None
    user.refresh_from_db()
    assert (user.first_name_th, user.last_name_th) == ("สมชาย", "กิตติศักดิ์")
    assert (user.first_name, user.last_name, user.email) == ("Somchai", "Kittisak", "somchai.k@example.go.th")
    assert user.position == "นักวิชาการคอมพิวเตอร์"
    assert not user.has_usable_password()
    # somchai is in pki-team, which is inside dsign-ca-officers: only nested resolution finds it.
    assert user.has_role(Role.CA_OFFICER)
    assert user.has_role(Role.OFFICE_USER)
    assert not user.has_role(Role.AUDITOR)
    assert user.is_staff


def test_directory_auditor_group_maps_to_auditor_and_plain_member_is_office_user(ldap_on):
    auditor = authenticate(username="wilai.s", password="Ldap-pass-2")
    clerk = authenticate(username="prasert.m", password="Ldap-pass-3")

    assert auditor.has_role(Role.AUDITOR) and auditor.is_staff
    assert clerk.has_role(Role.OFFICE_USER)
    assert not clerk.has_role(Role.CA_OFFICER) and not clerk.has_role(Role.AUDITOR)
    assert not User.objects.get(username="prasert.m").is_staff


def test_directory_role_removed_when_group_no_longer_maps(ldap_on, settings):
    user = authenticate(username="wilai.s", password="Ldap-pass-2")
    assert user.has_role(Role.AUDITOR)
    settings.LDAP_ROLE_GROUPS = {"auditor": "cn=someone-else," + ldap_server.GROUPS}

    again = authenticate(username="wilai.s", password="Ldap-pass-2")

    assert not again.has_role(Role.AUDITOR)
    assert not User.objects.get(username="wilai.s").is_staff


def test_wrong_directory_password_is_refused_and_audited(ldap_on, client):
    response = client.post("/accounts/login/", {"username": "somchai.k", "password": "wrong"})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    event = LoginEvent.objects.filter(action="accounts.login_failed").order_by("-id").first()
    assert event is not None
    assert event.details == {"method": "ldap", "username": "somchai.k"}
    assert event.outcome == "failure"
    assert not User.objects.filter(username="somchai.k").exists()


def test_login_page_signs_in_a_directory_user_and_records_the_method(ldap_on, client):
    response = client.post(
        "/accounts/login/",
        {"username": "somchai.k", "password": "Ldap-pass-1"},
        HTTP_USER_AGENT="pytest-browser/1.0",
        REMOTE_ADDR="10.1.2.3",
    )

    assert response.status_code == 302
    user = User.objects.get(username="somchai.k")
    assert client.session["_auth_user_id"] == str(user.pk)
    event = LoginEvent.objects.filter(action="accounts.login").order_by("-id").first()
    assert event.actor_id == user.pk
    assert event.details == {"method": "ldap"}
    assert (event.ip_address, event.user_agent) == ("10.1.2.3", "pytest-browser/1.0")


def test_local_admin_still_signs_in_when_directory_is_enabled(ldap_on, personas):
    user = authenticate(username="admin", password="demo-pass-2026")

    assert user == personas["admin"]
    assert user.backend == "django.contrib.auth.backends.ModelBackend"


def test_directory_users_are_linked_by_their_directory_identity_not_their_username(ldap_on):
    from accounts.models import ExternalIdentity

    user = authenticate(username="prasert.m", password="Ldap-pass-3")
    link = ExternalIdentity.objects.get(user=user)
    assert link.provider == "ldap" and link.subject.startswith("entryuuid:")
    User.objects.filter(pk=user.pk).update(username="prasert.renamed")  # a rename on our side
    again = authenticate(username="prasert.m", password="Ldap-pass-3")
    assert again.pk == user.pk and User.objects.filter(username="prasert.m").count() == 0


def test_a_directory_account_never_lands_on_a_local_account_of_the_same_name(ldap_on):
    from audit.models import Event

    local = User.objects.create_user("wilai.s", password="local-Passphrase-2026")
    assert authenticate(username="wilai.s", password="Ldap-pass-2") is None
    local.refresh_from_db()
    assert not local.external_identities.exists() and not local.groups.exists()
    conflict = Event.objects.get(action="accounts.identity_conflict")
    assert conflict.target_id == str(local.pk) and conflict.outcome == "denied"
    assert authenticate(username="wilai.s", password="local-Passphrase-2026") == local  # the local one still works


def test_an_account_made_by_an_earlier_directory_sign_in_is_claimed_once(ldap_on):
    earlier = User.objects.create_user("somchai.k")  # no password: made before identities were kept
    earlier.set_unusable_password()
    earlier.save()
    assert authenticate(username="somchai.k", password="Ldap-pass-1") == earlier
    assert earlier.external_identities.get().subject.startswith("entryuuid:")

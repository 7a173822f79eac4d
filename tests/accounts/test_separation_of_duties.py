"""An IT admin cannot become anyone (issue 15, acceptance 2).

Through the Django admin (forms posted with the test client, the way a browser posts them), the REST API
and the services: no self-promotion, no password or device set for someone else, no certificate work,
no seat or delegation given to the requester or the acting admin, four eyes on trust roots.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db.models.fields.files import FieldFile
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import SMSDevice, User
from accounts.roles import roles_sync
from audit.models import Event
from certificates import selectors as certificate_selectors
from certificates import services as certificate_services
from certificates.models import Certificate, CertificateStatus, TrustRoot
from tests.conftest import admin_login, api_client_for, make_otp

pytestmark = pytest.mark.django_db


def _with_role(username: str, role: str) -> User:
    roles_sync()
    user = User.objects.create_user(username, password="Very-Long-Pass-2026", email=f"{username}@dsign.example")
    user.groups.add(Group.objects.get(name=role))
    user.refresh_from_db()
    return user


@pytest.fixture
def it_admin(db):
    return _with_role("itadmin", "it_admin")


@pytest.fixture
def officer(db):
    return _with_role("officer1", "ca_officer")


@pytest.fixture
def officer2(db):
    return _with_role("officer2", "ca_officer")


def _change_form_data(client: Client, user: User) -> dict:
    """What the admin change form posts back unchanged (the editable fields with their current values)."""
    page = client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None or isinstance(value, FieldFile):
            continue
        if hasattr(value, "all"):
            value = [item.pk for item in value.all()]
        elif isinstance(value, list | tuple):
            value = [getattr(item, "pk", item) for item in value]
        elif hasattr(value, "pk"):
            value = value.pk
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = value
    return data


# --- roles and privileges -----------------------------------------------------------------------------


@pytest.mark.parametrize("whom", ["self", "other"])
def test_it_admin_cannot_make_anyone_superuser_staff_or_change_groups_in_admin(it_admin, personas, whom):
    target = it_admin if whom == "self" else personas["head1"]
    client = admin_login(Client(), it_admin)
    data = _change_form_data(client, target)
    ca_officer = Group.objects.get(name="ca_officer")
    data.update({"is_superuser": "on", "is_staff": "on", "groups": [ca_officer.pk], "position": "ผู้อำนวยการ"})

    response = client.post(f"/admin/accounts/user/{target.pk}/change/", data)

    assert response.status_code in (302, 403)
    target.refresh_from_db()
    assert not target.is_superuser
    assert not target.groups.filter(name="ca_officer").exists()
    if whom == "other":
        assert not target.is_staff
    page = client.get(f"/admin/accounts/user/{target.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in page and 'name="groups"' not in page


def test_it_admin_cannot_redirect_a_users_mail_to_himself(it_admin, personas):
    # Reset links, enrolment codes and e-mail OTP codes go to the address on the account.
    head1 = personas["head1"]
    client = admin_login(Client(), it_admin)
    data = _change_form_data(client, head1)
    data["email"] = "itadmin@dsign.example"

    client.post(f"/admin/accounts/user/{head1.pk}/change/", data)

    head1.refresh_from_db()
    assert head1.email == "head1@dsign.example"


def test_superuser_still_changes_roles_in_admin(personas):
    head1 = personas["head1"]
    client = admin_login(Client(), personas["admin"])
    data = _change_form_data(client, head1)
    data["groups"] = [Group.objects.get_or_create(name="auditor")[0].pk]

    assert client.post(f"/admin/accounts/user/{head1.pk}/change/", data).status_code == 302
    assert head1.groups.filter(name="auditor").exists()


def test_roles_set_by_a_directory_sync_still_work_without_an_actor(personas):
    from accounts import services

    services.user_roles_set(user=personas["head2"], roles={"auditor"}, source="ldap")
    assert personas["head2"].groups.filter(name="auditor").exists()


# --- passwords, devices, tokens of another user ------------------------------------------------------


def test_it_admin_cannot_set_another_users_password_in_admin(it_admin, personas):
    head1 = personas["head1"]
    client = admin_login(Client(), it_admin)
    url = f"/admin/accounts/user/{head1.pk}/password/"

    assert client.get(url).status_code == 403
    posted = client.post(url, {"password1": "Itadmin-Knows-2026", "password2": "Itadmin-Knows-2026"})

    assert posted.status_code == 403
    head1.refresh_from_db()
    assert head1.check_password("demo-pass-2026")


def test_it_admin_resets_by_sending_the_user_a_link_he_never_sees(
    it_admin, personas, django_capture_on_commit_callbacks
):
    head1 = personas["head1"]
    client = admin_login(Client(), it_admin)
    with django_capture_on_commit_callbacks(execute=True):
        page = client.post(
            "/admin/accounts/user/", {"action": "send_password_reset", "_selected_action": [head1.pk]}, follow=True
        )
    sent = [m for m in mail.outbox if m.to == ["head1@dsign.example"]]
    assert len(sent) == 1
    link = next(word for word in sent[0].body.split() if "/accounts/reset/" in word)
    assert link not in page.content.decode()
    assert Event.objects.filter(action="accounts.password_reset_link_sent", actor=it_admin).exists()
    head1.refresh_from_db()
    assert head1.check_password("demo-pass-2026")
    # The user, and only the user, sets the new password through the link.
    user_browser = Client()
    form = user_browser.get(link[link.index("/accounts/reset/") :], follow=True)
    done = user_browser.post(
        form.redirect_chain[-1][0], {"new_password1": "Mango-Sticky-Rice-77", "new_password2": "Mango-Sticky-Rice-77"}
    )
    assert done.status_code == 302
    head1.refresh_from_db()
    assert head1.check_password("Mango-Sticky-Rice-77")


def test_a_user_created_by_an_it_admin_has_no_password_he_knows(it_admin, django_capture_on_commit_callbacks):
    client = admin_login(Client(), it_admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/accounts/user/add/",
            {"username": "puppet", "email": "puppet@dsign.example", "password1": "Puppet-Pass-2026",
             "password2": "Puppet-Pass-2026", "usable_password": "true"},
        )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    puppet = User.objects.get(username="puppet")
    assert not puppet.has_usable_password()
    assert [m.to for m in mail.outbox] == [["puppet@dsign.example"]]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/accounts/smsdevice/add/",
        "/admin/otp_totp/totpdevice/add/",
        "/admin/otp_static/staticdevice/add/",
        "/admin/otp_email/emaildevice/add/",
        "/admin/authtoken/tokenproxy/add/",
    ],
)
def test_nobody_adds_a_device_or_token_for_a_user_in_admin(it_admin, personas, url):
    for actor in (it_admin, personas["admin"]):
        client = admin_login(Client(), actor)
        response = client.post(url, {"user": personas["head1"].pk, "name": "mine", "phone": "0899999999"})
        if "authtoken" in url and actor.is_superuser:
            continue  # API tokens: a superuser's console (hashed, expiring tokens replace this)
        assert response.status_code == 403, (actor.username, url)
    assert not SMSDevice.objects.filter(user=personas["head1"]).exists()
    assert not TOTPDevice.objects.filter(user=personas["head1"]).exists()


def test_user_page_has_no_inline_to_add_an_sms_device(it_admin, personas):
    page = admin_login(Client(), it_admin).get(f"/admin/accounts/user/{personas['head1'].pk}/change/")
    assert "smsdevice_set" not in page.content.decode()


def test_it_admin_removes_devices_so_the_user_must_enrol_again(it_admin, personas, django_capture_on_commit_callbacks):
    head2 = personas["head2"]
    make_otp(head2, "424242")
    client = admin_login(Client(), it_admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/accounts/user/", {"action": "remove_mfa_devices", "_selected_action": [head2.pk]})
    assert not StaticDevice.objects.filter(user=head2).exists()
    assert mail.outbox[-1].to == ["head2@dsign.example"]
    assert Event.objects.filter(action="accounts.mfa_removed_by_admin", actor=it_admin).exists()


def test_device_removed_from_its_admin_page_goes_through_the_service(it_admin, personas):
    device = StaticDevice.objects.create(user=personas["head3"], name="phone", confirmed=True)
    client = admin_login(Client(), it_admin)

    response = client.post(f"/admin/otp_static/staticdevice/{device.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not StaticDevice.objects.filter(pk=device.pk).exists()
    assert Event.objects.filter(action="accounts.mfa_removed_by_admin", target_id=str(personas["head3"].pk)).exists()


# --- certificates are CA-officer work ------------------------------------------------------------------


@pytest.mark.hsm
def test_it_admin_cannot_issue_import_or_revoke_certificates_in_admin(it_admin, personas):
    client = admin_login(Client(), it_admin)
    head1_cert = certificate_selectors.certificate_for_signing(user=personas["head1"])

    assert client.post("/admin/certificates/certificate/enrol/", {"users": [personas["head1"].pk]}).status_code == 403
    assert client.get("/admin/certificates/certificate/import-pkcs12/").status_code == 403
    assert (
        client.post("/admin/certificates/certificate/request-csr/", {"user": personas["head1"].pk}).status_code == 403
    )
    revoke = client.post(
        "/admin/certificates/certificate/",
        {"action": "revoke", "_selected_action": [head1_cert.pk], "apply": "1", "reason": "key_compromise"},
    )
    assert revoke.status_code == 403
    head1_cert.refresh_from_db()
    assert head1_cert.status == CertificateStatus.ACTIVE
    assert client.get("/admin/certificates/trustroot/add/").status_code == 403
    # It is "certificates: view": the list opens.
    assert client.get("/admin/certificates/certificate/").status_code == 200


@pytest.mark.hsm
def test_it_admin_cannot_revoke_through_the_api_or_the_services(it_admin, personas):
    cert = certificate_selectors.certificate_for_signing(user=personas["head2"])
    response = api_client_for(it_admin).post(f"/api/v1/certificates/{cert.pk}/revoke/", {"reason": "key_compromise"})
    assert response.status_code == 403
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        certificate_services.certificate_revoke(certificate=cert, actor=it_admin)
    with pytest.raises(PermissionDenied):
        certificate_services.certificate_issue(user=personas["head2"], actor=it_admin)
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.ACTIVE


@pytest.mark.hsm
def test_ca_officer_issues_in_admin(officer, personas, outsider):
    client = admin_login(Client(), officer)
    response = client.post("/admin/certificates/certificate/enrol/", {"users": [outsider.pk]})
    assert response.status_code == 302
    assert Certificate.objects.filter(user=outsider).exists()


def test_a_new_trust_root_is_used_only_after_a_second_officer_approves(officer, officer2, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.certificates.conftest import make_openssl_ca

    ca = make_openssl_ca(tmp_path / "ca", name="Four Eyes Root")
    client = admin_login(Client(), officer)
    added = client.post(
        "/admin/certificates/trustroot/add/",
        {"name": "Four Eyes", "source": "other", "enabled": "on",
         "certificate_file": SimpleUploadedFile("root.pem", ca.cert.read_bytes())},
    )  # fmt: skip
    assert added.status_code == 302
    root = TrustRoot.objects.get(name="Four Eyes")
    assert root.added_by == officer and not root.approved
    assert root.certificate.dump() not in [c.dump() for c in certificate_selectors.trust_roots_list()]

    client.post("/admin/certificates/trustroot/", {"action": "approve", "_selected_action": [root.pk]})
    root.refresh_from_db()
    assert not root.approved  # the one who added it cannot approve it

    second = admin_login(Client(), officer2)
    second.post("/admin/certificates/trustroot/", {"action": "approve", "_selected_action": [root.pk]})
    root.refresh_from_db()
    assert root.approved and root.approved_by == officer2
    assert root.certificate.dump() in [c.dump() for c in certificate_selectors.trust_roots_list()]
    assert Event.objects.filter(action="certificates.trust_root_approved", actor=officer2).exists()


# --- seats: never to the requester or the acting admin --------------------------------------------------


@pytest.fixture
def route(document_in_progress):
    """requester's memo on memo-2-tier: head1..3 in tier 1, the director in tier 2."""
    return document_in_progress


def _reassign(client: Client, document, seat, new_signer):
    return client.post(
        "/admin/workflows/document/",
        {"action": "reassign_seat", "_selected_action": [document.pk], "apply": "1", "seat": seat.pk,
         "new_signer": new_signer.pk, "reason": "ทดสอบ"},
        follow=True,
    )  # fmt: skip


@pytest.mark.parametrize("who", ["requester", "acting admin", "already seated"])
def test_seat_cannot_be_reassigned_to_the_requester_the_admin_or_a_seated_signer(it_admin, personas, route, who):
    new_signer = {"requester": personas["requester"], "acting admin": it_admin, "already seated": personas["head2"]}[
        who
    ]
    director_seat = route.assignments.get(signer=personas["director"])
    client = admin_login(Client(), it_admin)

    _reassign(client, route, director_seat, new_signer)

    director_seat.refresh_from_db()
    assert director_seat.signer == personas["director"]
    assert not Event.objects.filter(action="assignment.reassigned", target_id=str(route.pk)).exists()


def test_reassignment_refusal_is_in_the_service_too(it_admin, personas, route):
    from workflows import services

    seat = route.assignments.get(signer=personas["head1"])
    for person in (personas["requester"], it_admin):
        with pytest.raises(services.NotAllowed):
            services.assignment_reassign(assignment=seat, new_signer=person, actor=it_admin, reason="x")
    services.assignment_reassign(assignment=seat, new_signer=personas["auditor"], actor=it_admin, reason="ลาป่วย")
    seat.refresh_from_db()
    assert seat.signer == personas["auditor"]


def test_it_admin_cannot_make_himself_a_delegate_in_admin(it_admin, personas):
    from workflows.models import Delegation

    now = timezone.now()
    client = admin_login(Client(), it_admin)
    response = client.post(
        "/admin/workflows/delegation/add/",
        {"delegator": personas["director"].pk, "delegate": it_admin.pk, "kind": "acting_for",
         "starts_at_0": now.strftime("%Y-%m-%d"), "starts_at_1": "00:00:00",
         "ends_at_0": (now + timedelta(days=3)).strftime("%Y-%m-%d"), "ends_at_1": "00:00:00"},
    )  # fmt: skip
    assert response.status_code == 200 and "themselves" in response.content.decode()
    assert not Delegation.objects.filter(delegate=it_admin).exists()


def test_a_requester_holding_a_delegation_cannot_approve_their_own_document(personas, route, otp):
    from workflows import services

    # The director delegates to the requester (allowed in general); the requester's own memo is refused.
    services.delegation_create(
        delegator=personas["head1"], delegate=personas["requester"], starts_at=timezone.now() - timedelta(hours=1),
        ends_at=timezone.now() + timedelta(days=1), kind="acting_for", actor=personas["head1"],
    )  # fmt: skip
    client = api_client_for(personas["requester"])
    response = client.post(
        f"/api/v1/documents/{route.pk}/approve/", {"otp": otp(personas["requester"], "777777")}, format="json"
    )
    assert response.status_code == 403, response.content
    assert route.assignments.get(signer=personas["head1"]).status == "pending"

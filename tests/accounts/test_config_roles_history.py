"""Sign-in configuration from the environment, roles driving admin access, login history, pages."""

from __future__ import annotations

import ldap
import pytest
from django.contrib.auth.models import Group
from django_auth_ldap.config import NestedActiveDirectoryGroupType

from accounts import services
from accounts.auth_settings import ldap_settings, oidc_settings, parse_pairs, sms_settings
from accounts.models import LoginEvent, Role
from accounts.sms import render_body
from tests.conftest import admin_login


def test_ldap_is_off_without_server_uri_and_ad_defaults_apply_when_on(tmp_path):
    assert ldap_settings({})["LDAP_ENABLED"] is False
    secret = tmp_path / "bind"
    secret.write_text("from-a-file\n")

    values = ldap_settings(
        {
            "LDAP_SERVER_URI": "ldaps://dc1.example.go.th",
            "LDAP_USER_SEARCH_BASE": "OU=Staff,DC=example,DC=go,DC=th",
            "LDAP_BIND_PASSWORD_FILE": str(secret),
            "LDAP_START_TLS": "true",
            "LDAP_CA_CERT_FILE": "/etc/ssl/ad-ca.pem",
            "LDAP_ROLE_GROUPS": "ca_officer=CN=CA Officers,OU=Groups,DC=example,DC=go,DC=th;auditor=CN=Audit,DC=x",
        }
    )

    assert values["AUTH_LDAP_BIND_PASSWORD"] == "from-a-file"
    assert values["AUTH_LDAP_USER_SEARCH"].filterstr == "(sAMAccountName=%(user)s)"
    assert isinstance(values["AUTH_LDAP_GROUP_TYPE"], NestedActiveDirectoryGroupType)
    assert values["AUTH_LDAP_START_TLS"] is True
    assert values["AUTH_LDAP_CONNECTION_OPTIONS"][ldap.OPT_X_TLS_CACERTFILE] == "/etc/ssl/ad-ca.pem"
    assert values["AUTH_LDAP_CONNECTION_OPTIONS"][ldap.OPT_X_TLS_REQUIRE_CERT] == ldap.OPT_X_TLS_DEMAND
    assert values["LDAP_ROLE_GROUPS"]["ca_officer"] == "CN=CA Officers,OU=Groups,DC=example,DC=go,DC=th"
    assert values["AUTH_LDAP_USER_ATTR_MAP"]["first_name_th"] == "extensionAttribute1"


def test_bad_sign_in_configuration_is_refused_with_the_variable_named():
    with pytest.raises(ValueError, match="LDAP_USER_SEARCH_BASE"):
        ldap_settings({"LDAP_SERVER_URI": "ldap://x"})
    with pytest.raises(ValueError, match="LDAP_ROLE_GROUPS: unknown key 'admin'"):
        parse_pairs("admin=CN=x", allowed_keys={"auditor"}, name="LDAP_ROLE_GROUPS")
    with pytest.raises(ValueError, match="OIDC_OP_ISSUER"):
        oidc_settings({"OIDC_RP_CLIENT_ID": "abc"})


def test_oidc_is_off_without_client_id_and_entra_style_issuer_is_enough():
    assert oidc_settings({})["OIDC_ENABLED"] is False
    values = oidc_settings(
        {"OIDC_RP_CLIENT_ID": "abc", "OIDC_OP_ISSUER": "https://login.microsoftonline.com/tenant/v2.0/"}
    )
    assert values["OIDC_OP_ISSUER"] == "https://login.microsoftonline.com/tenant/v2.0"
    assert values["OIDC_RP_SIGN_ALGO"] == "RS256" and values["OIDC_USE_PKCE"] is True
    assert values["OIDC_CLAIM_MAP"]["first_name"] == "given_name"


def test_sms_body_template_escapes_thai_text_and_quotes():
    assert sms_settings({})["SMS_BACKEND"] == "console"
    assert sms_settings({"SMS_GATEWAY_URL": "https://sms.example"})["SMS_BACKEND"] == "http"
    body = render_body(
        template='{"to": "{phone}", "msg": "{text}"}',
        content_type="application/json",
        phone="0812345678",
        text='รหัส "123456"',
        sender="dsign",
    )
    assert body == '{"to": "0812345678", "msg": "รหัส \\"123456\\""}'
    form = render_body(
        template="to={phone}&text={text}",
        content_type="application/x-www-form-urlencoded",
        phone="+66",
        text="a b",
        sender="dsign",
    )
    assert form == "to=%2B66&text=a+b"


@pytest.mark.django_db
def test_staff_follows_role_groups_both_ways(outsider):
    assert not outsider.is_staff
    outsider.groups.add(Group.objects.get(name=Role.CA_OFFICER))
    outsider.refresh_from_db()
    assert outsider.is_staff
    outsider.groups.remove(Group.objects.get(name=Role.CA_OFFICER))
    outsider.refresh_from_db()
    assert not outsider.is_staff


@pytest.mark.django_db
def test_directory_roles_leave_unmapped_roles_alone(outsider):
    outsider.groups.add(Group.objects.get(name=Role.IT_ADMIN))
    services.user_roles_set(user=outsider, roles={Role.AUDITOR}, managed={Role.AUDITOR, Role.CA_OFFICER}, source="t")
    assert sorted(outsider.groups.values_list("name", flat=True)) == ["auditor", "it_admin"]


@pytest.mark.django_db
def test_local_sign_in_and_failure_are_in_the_login_history(client, personas):
    client.post("/accounts/login/", {"username": "head1", "password": "nope"}, REMOTE_ADDR="192.0.2.7")
    client.post("/accounts/login/", {"username": "head1", "password": "demo-pass-2026"}, REMOTE_ADDR="192.0.2.7")

    failed, ok = LoginEvent.objects.filter(action__in=["accounts.login_failed", "accounts.login"]).order_by("id")
    assert (failed.action, failed.actor_repr, failed.details["method"]) == ("accounts.login_failed", "head1", "local")
    assert (ok.action, ok.actor_id, ok.details["method"], ok.ip_address) == (
        "accounts.login",
        personas["head1"].pk,
        "local",
        "192.0.2.7",
    )


@pytest.mark.django_db
def test_auditor_reads_login_history_in_admin_and_office_user_cannot(client, personas):
    admin_login(client, personas["auditor"])
    assert client.get("/admin/accounts/loginevent/").status_code == 200
    assert client.get("/admin/accounts/user/").status_code == 200
    client.force_login(personas["head1"])
    assert client.get("/admin/accounts/loginevent/").status_code == 302


@pytest.mark.django_db
def test_pages_render_in_thai_and_english(client, personas):
    page = client.get("/accounts/login/").content.decode()
    assert "เข้าสู่ระบบ" in page and "Sign in" in page and 'id="oidc-login"' not in page
    client.force_login(personas["head1"])
    mfa = client.post("/accounts/mfa/", {"action": "totp", "name": "Authenticator"}).content.decode()
    assert "<svg" in mfa and "Microsoft Authenticator" in mfa
    assert client.get("/api/v1/me/").json()["full_name_th"] == "นายสมชาย รักงาน"

"""Sign-in through a real OpenID Connect provider (oidc-provider on Node) over real HTTP.

The browser is a requests.Session: dsign redirects it to the provider, the provider signs the test
account in and redirects back with a code, dsign exchanges the code, checks the RS256 ID token against the
provider's JWKS, creates or updates the user from the claims and maps the groups claim to roles.
"""

from __future__ import annotations

import pytest
import requests

from accounts.auth_settings import oidc_settings
from accounts.models import LoginEvent, Role, User
from tests.support.oidc_provider import start_provider

pytestmark = [pytest.mark.oidc, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CLIENT_ID = "dsign-test"
CLIENT_SECRET = "dsign-test-secret-0123456789abcdef"
CA_GROUP = "6f1c2a9e-ca-officers"
AUDIT_GROUP = "0b7d11aa-auditors"
ACCOUNTS = {
    "u-001": {
        "preferred_username": "napat.w@example.go.th",
        "email": "napat.w@example.go.th",
        "email_verified": True,
        "given_name": "Napat",
        "family_name": "Wongsa",
        "given_name_th": "ณภัทร",
        "family_name_th": "วงศ์สา",
        "job_title": "นักวิชาการคอมพิวเตอร์ชำนาญการ",
        "groups": [CA_GROUP, "some-other-group"],
    },
    "u-002": {
        "preferred_username": "kanya.p@example.go.th",
        "email": "kanya.p@example.go.th",
        "given_name": "Kanya",
        "family_name": "Pongsri",
        "groups": [],
    },
    # An IdP account that calls itself like the local superuser.
    "u-666": {"preferred_username": "admin", "email": "admin@evil.example", "groups": [CA_GROUP]},
}


@pytest.fixture(scope="session")
def provider():
    import os

    base = f"http://127.0.0.1:{os.environ['DSIGN_TEST_PORT']}"
    running = start_provider(
        client={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uris": [f"{base}/oidc/callback/"],
            "post_logout_redirect_uris": [f"{base}/accounts/login/"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_post",
        },
        accounts=ACCOUNTS,
    )
    yield running
    running.stop()


@pytest.fixture
def oidc_on(settings, provider, live_server):
    values = oidc_settings(
        {
            "OIDC_RP_CLIENT_ID": CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
            # Only the issuer: endpoints come from its discovery document, as with Entra ID.
            "OIDC_OP_ISSUER": provider.issuer,
            "OIDC_RP_SCOPES": "openid email profile groups",
            "OIDC_ROLE_GROUPS": f"ca_officer={CA_GROUP};auditor={AUDIT_GROUP}",
        }
    )
    for name, value in values.items():
        setattr(settings, name, value)
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend", "accounts.oidc.OIDCBackend"]
    return provider


def sign_in(live_server, provider, account: str) -> requests.Session:
    provider.login_as(account)
    browser = requests.Session()
    response = browser.get(f"{live_server.url}/oidc/authenticate/?next=/api/v1/me/", timeout=30)
    assert response.status_code == 200, (response.url, response.text[:500])
    assert response.url == f"{live_server.url}/api/v1/me/"
    return browser


def test_login_page_offers_the_microsoft_button_when_oidc_is_configured(oidc_on, live_server):
    page = requests.get(f"{live_server.url}/accounts/login/", timeout=10).text
    assert 'id="oidc-login"' in page and "เข้าสู่ระบบด้วย Microsoft" in page


def test_code_flow_creates_the_user_with_claims_and_group_roles(oidc_on, live_server):
    browser = sign_in(live_server, oidc_on, "u-001")

    profile = browser.get(f"{live_server.url}/api/v1/me/", timeout=10).json()
    assert profile["username"] == "napat.w@example.go.th"
    assert (profile["first_name_th"], profile["last_name_th"]) == ("ณภัทร", "วงศ์สา")
    assert profile["position"] == "นักวิชาการคอมพิวเตอร์ชำนาญการ"
    assert profile["roles"] == ["ca_officer", "office_user"]
    user = User.objects.get(username="napat.w@example.go.th")
    assert (user.first_name, user.last_name, user.email) == ("Napat", "Wongsa", "napat.w@example.go.th")
    assert user.is_staff and not user.has_usable_password()
    event = LoginEvent.objects.filter(action="accounts.login", actor_id=user.pk).get()
    assert event.details == {"method": "oidc"}
    assert event.ip_address == "127.0.0.1" and "python-requests" in event.user_agent


def test_second_sign_in_updates_the_same_user_and_drops_a_removed_role(oidc_on, live_server, settings):
    sign_in(live_server, oidc_on, "u-001")
    settings.OIDC_ROLE_GROUPS = {"ca_officer": "another-group-id"}

    sign_in(live_server, oidc_on, "u-001")

    user = User.objects.get(username="napat.w@example.go.th")
    assert User.objects.filter(username="napat.w@example.go.th").count() == 1
    assert not user.has_role(Role.CA_OFFICER) and user.has_role(Role.OFFICE_USER)
    assert not user.is_staff


def test_user_without_mapped_groups_is_an_office_user(oidc_on, live_server):
    sign_in(live_server, oidc_on, "u-002")
    user = User.objects.get(username="kanya.p@example.go.th")
    assert [g.name for g in user.groups.all()] == [Role.OFFICE_USER]
    assert not user.is_staff


def test_wrong_client_secret_fails_and_is_audited(oidc_on, live_server, settings):
    settings.OIDC_RP_CLIENT_SECRET = "not-the-secret"
    oidc_on.login_as("u-002")
    browser = requests.Session()

    response = browser.get(f"{live_server.url}/oidc/authenticate/", timeout=30)

    assert response.url.startswith(f"{live_server.url}/accounts/login/?error=oidc")
    assert "_auth_user_id" not in browser.cookies.get_dict()
    assert not User.objects.filter(username="kanya.p@example.go.th").exists()
    assert LoginEvent.objects.filter(action="accounts.login_failed", details__method="oidc").exists()


def test_logout_goes_to_the_providers_end_session_endpoint(oidc_on, live_server):
    browser = sign_in(live_server, oidc_on, "u-001")
    csrf = browser.get(f"{live_server.url}/accounts/login/", timeout=10)
    token = browser.cookies.get("csrftoken")
    assert csrf.status_code in (200, 302)

    response = browser.post(
        f"{live_server.url}/oidc/logout/",
        headers={"X-CSRFToken": token, "Referer": live_server.url},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{oidc_on.issuer}/session/end?")
    assert "id_token_hint=" in location and "client_id=dsign-test" in location
    assert browser.get(f"{live_server.url}/api/v1/me/", timeout=10).status_code in (401, 403)


def test_users_are_linked_by_issuer_and_subject(oidc_on, live_server):
    from accounts.models import ExternalIdentity

    sign_in(live_server, oidc_on, "u-001")
    user = User.objects.get(username="napat.w@example.go.th")
    link = ExternalIdentity.objects.get(user=user)
    assert (link.provider, link.issuer, link.subject) == ("oidc", oidc_on.issuer.rstrip("/"), "u-001")
    User.objects.filter(pk=user.pk).update(username="napat.renamed")  # the local name no longer matches
    again = sign_in(live_server, oidc_on, "u-001")
    assert again.get(f"{live_server.url}/api/v1/me/", timeout=10).json()["username"] == "napat.renamed"
    assert not User.objects.filter(username="napat.w@example.go.th").exists()


def test_an_idp_account_named_admin_never_lands_in_the_local_superuser(oidc_on, live_server, personas):
    from audit.models import Event

    oidc_on.login_as("u-666")
    browser = requests.Session()
    response = browser.get(f"{live_server.url}/oidc/authenticate/?next=/api/v1/me/", timeout=30)
    assert response.url.startswith(f"{live_server.url}/accounts/login/?error=oidc")
    assert browser.get(f"{live_server.url}/api/v1/me/", timeout=10).status_code in (401, 403)
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and not admin.external_identities.exists()
    assert not admin.groups.filter(name=Role.CA_OFFICER).exists()
    conflict = Event.objects.get(action="accounts.identity_conflict")
    assert conflict.target_id == str(admin.pk) and conflict.details["subject"] == "u-666"

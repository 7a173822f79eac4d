"""Keys apart (issue 16): CA, services and users' keys in three tokens; no users' PIN, no users' key."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.conf import settings

from core import hsm

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]


def test_show_slots_lists_the_ca_services_and_users_tokens_apart():
    result = subprocess.run(
        ["softhsm2-util", "--show-slots"],
        env={**os.environ, "SOFTHSM2_CONF": str(settings.SOFTHSM2_CONF)},
        capture_output=True,
        text=True,
        check=True,
    )
    for label in (settings.HSM_CA_TOKEN_LABEL, settings.HSM_SERVICES_TOKEN_LABEL, settings.HSM_USERS_TOKEN_LABEL):
        assert f"Label:            {label}" in result.stdout


def test_each_key_lives_in_its_own_token(personas):
    from certificates.models import Certificate, CertificateAuthority

    ca_keys = hsm.labels(realm="ca")
    service_keys = hsm.labels(realm="services")
    user_keys = hsm.labels(realm="users")
    assert {"ca-root", "ca-issuing"} <= set(ca_keys)
    assert {"ca-ocsp", "ca-tsa"} <= set(service_keys)
    user_labels = set(Certificate.objects.values_list("key_label", flat=True))
    assert user_labels and user_labels <= set(user_keys)
    assert not user_labels & (set(ca_keys) | set(service_keys))
    assert not {"ca-root", "ca-issuing", "ca-ocsp", "ca-tsa"} & set(user_keys)
    assert not set(CertificateAuthority.objects.values_list("key_label", flat=True)) & set(user_keys)


def test_a_process_without_the_users_pin_cannot_use_a_users_key(personas):
    from certificates.models import Certificate
    from signing import setup

    label = Certificate.objects.filter(user=personas["head2"]).values_list("key_label", flat=True).first()
    default, realms = setup.hsm_realm_configs()
    realms["users"] = type(realms["users"])(**{**realms["users"].__dict__, "user_pin": None})
    hsm.configure_realms(default=default, realms=realms)
    with pytest.raises(hsm.NoPIN):
        hsm.sign_raw(label=label, data=b"forged approval")
    # The CA and the services keys are still usable in that process.
    assert hsm.sign_raw(label="ca-tsa", data=b"timestamp")

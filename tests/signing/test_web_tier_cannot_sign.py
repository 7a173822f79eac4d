"""Issue 16, acceptance 2 (first half): a Django shell with the web tier's configuration tries every
signing entry point with a user's key, and not one signature comes out.

The shell is a real `manage.py shell` process given what the web tier is given: the CA and services
PINs, the signer's socket, no users' PIN. A signing job without activation data fails in the pipeline
(the same path a qcluster worker runs) before any key is used.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from django.db import transaction

from tests.support.signer import ROOT, signer_process, web_tier_env

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]

ATTEMPTS = r"""
import base64, io, json, os
import pikepdf
from django.conf import settings
from core import hsm, signer
from signing import pades
from signing.activated_signer import ActivatedSigner
from asn1crypto import x509

label = os.environ["VICTIM_LABEL"]
victim_cert = x509.Certificate.load(base64.b64decode(os.environ["VICTIM_CERT"]))
victim_chain = [x509.Certificate.load(base64.b64decode(c)) for c in os.environ["VICTIM_CHAIN"].split(",")]
victim_id = int(label.split("-")[1])
doc = pikepdf.new(); doc.add_blank_page(); out = io.BytesIO(); doc.save(out); pdf = out.getvalue()
results = {"pin_in_environment": any(k.startswith("HSM_USERS_PIN") for k in os.environ),
           "pin_in_settings": bool(settings.HSM_USERS_PIN)}

def attempt(name, fn):
    try:
        value = fn()
        results[name] = "SIGNED" if value else "nothing"
    except Exception as exc:
        results[name] = type(exc).__name__ + ": " + str(getattr(exc, "code", "") or exc)[:80]

attempt("hsm.sign_raw", lambda: hsm.sign_raw(label=label, data=b"I approve"))
attempt("hsm.key_attributes", lambda: hsm.key_attributes(label=label))

def pyhanko_in_users_token():
    with hsm.session(realm="users"):
        return pades.sign_pdf(pdf=pdf, signer=hsm.pyhanko_signer(label=label, signing_cert=None, other_certs=[]),
                              field_name="Sig1")
attempt("hsm.pyhanko_signer", pyhanko_in_users_token)

def hsm_signer():
    with hsm.signer(label=label, signing_cert=None, other_certs=[]) as s:
        return pades.sign_pdf(pdf=pdf, signer=s, field_name="Sig1")
attempt("hsm.signer", hsm_signer)

def other_pins():
    # Every PIN this process knows, tried on the users' token.
    import dataclasses
    default, realms = hsm.configuration()
    for pin in {settings.HSM_CA_PIN, settings.HSM_SERVICES_PIN, settings.HSM_PIN}:
        users = dataclasses.replace(realms["users"], user_pin=pin)
        hsm.configure_realms(default=default, realms={**realms, "users": users})
        try:
            return hsm.sign_raw(label=label, data=b"I approve")
        except hsm.HSMError:
            pass
        finally:
            hsm.configure_realms(default=default, realms=realms)
    raise hsm.HSMError("no PIN of this process opens the users' token")
attempt("known PINs on the users' token", other_pins)

def via_signer(sad):
    s = ActivatedSigner(activation=sad, subject_id=1, key_label=label, signing_cert=victim_cert,
                        other_certs=victim_chain)
    return pades.sign_pdf(pdf=pdf, signer=s, field_name="Sig1")
attempt("signer without activation", lambda: via_signer(""))
attempt("signer with made-up activation", lambda: via_signer("eyJ2IjoxfQ.AAAA"))
attempt("signer raw call", lambda: signer.call("sign", sad="", subject=1, key_label=label, signed_attrs="MQA",
                                               prepared=base64.urlsafe_b64encode(pdf).decode(),
                                               digest_algorithm="sha256"))
attempt("signer verify without factors", lambda: signer.call("activate", user_id=victim_id, code="123456",
        items=[{"subject": 1, "sha256": "0" * 64, "size": 1}], factors=[]))
print("RESULTS=" + json.dumps(results))
"""


@pytest.fixture(scope="module")
def signer_socket(tmp_path_factory):
    path = tmp_path_factory.mktemp("signer-web") / "signer.sock"
    with signer_process(path):
        yield path


def test_a_web_tier_shell_produces_no_signature_with_a_users_key(personas, signer_socket):
    from certificates.selectors import certificate_for_signing, signing_credentials_get

    certificate = certificate_for_signing(user=personas["head2"])
    credentials = signing_credentials_get(certificate_id=certificate.pk)
    env = web_tier_env(socket_path=signer_socket)
    env.update(
        VICTIM_LABEL=credentials.key_label,
        VICTIM_CERT=base64.b64encode(credentials.certificate.dump()).decode(),
        VICTIM_CHAIN=",".join(base64.b64encode(c.dump()).decode() for c in credentials.chain),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", ATTEMPTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULTS="))
    results = json.loads(line.removeprefix("RESULTS="))
    assert results.pop("pin_in_environment") is False
    assert results.pop("pin_in_settings") is False
    assert len(results) == 9, results
    for entry_point, outcome in results.items():
        assert "SIGNED" not in outcome, (entry_point, outcome)
    assert results["hsm.sign_raw"].startswith("NoPIN")
    assert results["signer without activation"].startswith("SignerError: activation_missing")
    assert results["signer with made-up activation"].startswith("SignerError: activation_invalid")
    assert results["signer verify without factors"].startswith("SignerError: no_factor")


def _approval_without_step_up(*, document, actor, activation: str = ""):
    """What a web tier that skipped (or forged) the step-up could record: the approval's checks and write,
    with whatever activation data it has, in one transaction."""
    from workflows.services import decisions

    with transaction.atomic(durable=True):
        locked, checked = decisions._approval_checked(document=document, actor=actor, sha256=None)
        return decisions._approval_write(
            document=locked, actor=actor, checked=checked, comment="", batch=None, aal=1, activation=activation
        )


def test_a_signing_job_without_activation_data_fails_before_any_key_is_used(personas, otp, document_for_signing):
    from signing import services as signing_services
    from signing.models import JobStatus, SigningAttempt, SigningJob

    document = document_for_signing
    # What a web tier that skipped the step-up could record: a decision whose job has no activation.
    seat = _approval_without_step_up(document=document, actor=personas["head1"])
    signing_services.signing_job_run(job_id=seat.signing_job_id)
    job = SigningJob.objects.get(pk=seat.signing_job_id)
    assert job.status == JobStatus.FAILED and job.error_code == "activation_missing"
    assert document.versions.count() == 1
    assert SigningAttempt.objects.filter(job=job, outcome=SigningAttempt.Outcome.PERMANENT).exists()


def test_a_signing_job_with_activation_for_another_version_fails(personas, otp, document_for_signing):
    from signing import services as signing_services
    from signing.models import JobStatus, SigningJob

    document = document_for_signing
    head1 = personas["head1"]
    other = {"subject": document.pk, "sha256": "ab" * 32, "size": 1000}
    sad = signing_services.signature_activate(user=head1, code=otp(head1), items=[other])
    seat = _approval_without_step_up(document=document, actor=head1, activation=sad)
    signing_services.signing_job_run(job_id=seat.signing_job_id)
    job = SigningJob.objects.get(pk=seat.signing_job_id)
    assert job.status == JobStatus.FAILED and job.error_code == "activation_other_document"
    assert document.versions.count() == 1


@pytest.fixture
def document_for_signing(personas, pdf_bytes):
    from workflows import services
    from workflows.models import WorkflowTemplate

    WorkflowTemplate.objects.filter(code="memo-2-tier").update(pades_level="B-B")
    return services.route_start(
        title="บันทึกทดสอบการลงนาม",
        pdf=pdf_bytes,
        template=WorkflowTemplate.objects.get(code="memo-2-tier"),
        actor=personas["requester"],
    )

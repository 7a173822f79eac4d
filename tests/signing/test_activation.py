"""Issue 16, acceptance 2 (second half): a real signer process signs a user's hash only with valid
signature activation data for that document version, and refuses everything else."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from django.test import override_settings

from core import signer as signer_client
from signing import activation, pades
from signing.activated_signer import ActivatedSigner
from tests.support.pdfsig import assert_pdfsig_all_valid, pdfsig_report
from tests.support.signer import remote_signer_in_use, signer_process

pytestmark = [pytest.mark.hsm, pytest.mark.django_db]

CODE = "731904"


def blank_pdf(text: str = "") -> bytes:
    import io

    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.docinfo["/Title"] = text
    out = io.BytesIO()
    pdf.save(out, static_id=True)
    return out.getvalue()


@pytest.fixture(scope="module")
def signer_socket(tmp_path_factory):
    path = tmp_path_factory.mktemp("signer") / "signer.sock"
    with signer_process(path):
        yield path


@pytest.fixture
def remote_signer(signer_socket):
    """This test process talks to the signer process over its socket, as the workers do."""
    with remote_signer_in_use(signer_socket):
        yield


def _credentials(user):
    from certificates.selectors import certificate_for_signing, signing_credentials_get

    return signing_credentials_get(certificate_id=certificate_for_signing(user=user).pk)


def _activate(user, pdf: bytes, *, subject: int = 1) -> str:
    """What the web tier obtains at decision time: the user's code, checked by the signer."""
    sealed = signer_client.call("seal", user_id=user.pk, kind="static", secret=CODE)["sealed"]
    item = {"subject": subject, "sha256": hashlib.sha256(pdf).hexdigest(), "size": len(pdf)}
    return signer_client.call(
        "activate", user_id=user.pk, code=CODE, items=[item], factors=[{"kind": "static", "sealed": sealed}]
    )["sad"]


def _sign(user, pdf: bytes, sad: str, *, subject: int = 1, field: str = "Sig1", credentials=None) -> bytes:
    credentials = credentials or _credentials(user)
    signer = ActivatedSigner(
        activation=sad,
        subject_id=subject,
        key_label=credentials.key_label,
        signing_cert=credentials.certificate,
        other_certs=credentials.chain,
    )
    return pades.sign_pdf(pdf=pdf, signer=signer, field_name=field)


def _refusal(call) -> str:
    with pytest.raises(signer_client.SignerError) as caught:
        call()
    return caught.value.code


def test_signer_signs_the_confirmed_version_and_the_signature_validates(personas, remote_signer, tmp_path):
    from certificates.selectors import trust_roots_list

    head1 = personas["head1"]
    pdf = blank_pdf(text="confirmed")
    signed = _sign(head1, pdf, _activate(head1, pdf))

    assert signed.startswith(pdf)
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    assert_pdfsig_all_valid(pdfsig_report(path, [r.dump() for r in trust_roots_list()], tmp_path), 1)


def test_signer_refuses_without_activation_data(personas, remote_signer):
    head1 = personas["head1"]
    assert _refusal(lambda: _sign(head1, blank_pdf(), "")) == "activation_missing"


def test_signer_refuses_forged_activation_data(personas, remote_signer):
    head1 = personas["head1"]
    pdf = blank_pdf(text="forged")
    body, mac = _activate(head1, blank_pdf(text="something else")).split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["items"][0]["sha256"] = hashlib.sha256(pdf).hexdigest()
    payload["items"][0]["size"] = len(pdf)
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=") + "." + mac
    assert _refusal(lambda: _sign(head1, pdf, forged)) == "activation_invalid"


def test_signer_refuses_activation_for_another_document_hash(personas, remote_signer):
    head1 = personas["head1"]
    sad = _activate(head1, blank_pdf(text="the memo head1 was shown"))
    assert _refusal(lambda: _sign(head1, blank_pdf(text="a different memo"), sad)) == "activation_other_document"


def test_signer_refuses_activation_for_another_document(personas, remote_signer):
    head1 = personas["head1"]
    pdf = blank_pdf(text="document 1")
    sad = _activate(head1, pdf, subject=1)
    assert _refusal(lambda: _sign(head1, pdf, sad, subject=2)) == "activation_other_document"


def test_signer_refuses_one_users_activation_for_another_users_key(personas, remote_signer):
    pdf = blank_pdf(text="head1 approves")
    sad = _activate(personas["head1"], pdf)
    head2_key = _credentials(personas["head2"])
    assert _refusal(lambda: _sign(personas["head2"], pdf, sad, credentials=head2_key)) == "activation_other_user"


def test_signer_refuses_expired_activation_data(personas, remote_signer):
    head1 = personas["head1"]
    pdf = blank_pdf(text="late")
    with override_settings(SIGNATURE_ACTIVATION_SECONDS=-1):
        # Issued by this process's own signer: same token keys, so the signer process accepts its MAC.
        signer_client.use_local(activation.handle)
        sad = _activate(head1, pdf)
        signer_client.use_local(None)
    assert _refusal(lambda: _sign(head1, pdf, sad)) == "activation_expired"


def test_signer_refuses_replayed_activation_data(personas, remote_signer):
    head1 = personas["head1"]
    pdf = blank_pdf(text="once")
    sad = _activate(head1, pdf)
    _sign(head1, pdf, sad)
    signer_client.call("confirm", sad=sad, subject=1)
    assert _refusal(lambda: _sign(head1, pdf, sad)) == "activation_replayed"


def test_signer_refuses_a_raw_hash_that_is_not_the_prepared_documents(personas, remote_signer):
    head1 = personas["head1"]
    pdf = blank_pdf(text="confirmed")
    sad = _activate(head1, pdf)
    attrs = b"\x31\x00"  # an empty SET: no messageDigest of any document

    def raw():
        return signer_client.call(
            "sign",
            sad=sad,
            subject=1,
            key_label=_credentials(head1).key_label,
            signed_attrs=base64.urlsafe_b64encode(attrs).decode(),
            prepared=base64.urlsafe_b64encode(pdf).decode(),
            digest_algorithm="sha256",
        )

    assert _refusal(raw) in {"bad_document", "bad_request"}


def test_signer_refuses_a_wrong_code(personas, remote_signer):
    head1 = personas["head1"]
    sealed = signer_client.call("seal", user_id=head1.pk, kind="static", secret=CODE)["sealed"]
    item = {"subject": 1, "sha256": "0" * 64, "size": 10}

    def activate():
        return signer_client.call(
            "activate", user_id=head1.pk, code="000000", items=[item], factors=[{"kind": "static", "sealed": sealed}]
        )

    assert _refusal(activate) == "wrong_code"

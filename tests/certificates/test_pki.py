"""PKI builders with keys in a real SoftHSM token, checked by independent verifiers.

OpenSSL, pyhanko-certvalidator, cryptography, pyHanko and pdfsig judge what the builders make;
nothing here trusts the builders' own view of their output.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import subprocess
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pikepdf
import pytest
from asn1crypto import core, crl, ocsp, pem, tsp, x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.timestamps import HTTPTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import CertificateValidator, ValidationContext

from certificates import pki
from core import hsm
from tests.support.pdfsig import assert_pdfsig_all_valid, pdfsig_report
from tests.support.softhsm import THAI_SUBJECT, issue, make_pki, make_token

pytestmark = pytest.mark.hsm


@pytest.fixture
def chain(tmp_path):
    make_token(tmp_path)
    return make_pki(issuing_algorithm="ec-p256")


def _write_pem(path, cert: x509.Certificate):
    path.write_bytes(pem.armor("CERTIFICATE", cert.dump()))
    return path


def _openssl(*args) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)


def _verify_signature(cert: x509.Certificate, signature: bytes, data: bytes) -> None:
    public_key = serialization.load_der_public_key(cert.public_key.dump())
    if isinstance(public_key, rsa.RSAPublicKey):
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        public_key.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def test_chain_validates_in_openssl_and_certvalidator_and_keeps_thai_names(chain, tmp_path):
    leaf = issue(chain, label="somchai", subject=THAI_SUBJECT)
    root_pem = _write_pem(tmp_path / "root.pem", chain.root)
    issuing_pem = _write_pem(tmp_path / "issuing.pem", chain.issuing)
    leaf_pem = _write_pem(tmp_path / "leaf.pem", leaf)

    result = _openssl("verify", "-CAfile", root_pem, "-untrusted", issuing_pem, leaf_pem)
    assert result.returncode == 0 and f"{leaf_pem}: OK" in result.stdout, result.stderr
    # Without the intermediate the leaf must not validate: the check above is a real one.
    assert _openssl("verify", "-CAfile", root_pem, leaf_pem).returncode != 0

    context = ValidationContext(trust_roots=[chain.root], allow_fetching=False, revocation_mode="soft-fail")
    validator = CertificateValidator(leaf, intermediate_certs=[chain.issuing], validation_context=context)
    path = asyncio.run(validator.async_validate_usage({"digital_signature", "non_repudiation"}))
    assert path.pkix_len == 2 and path.leaf.dump() == leaf.dump()  # issuing CA + leaf below the root

    reloaded = x509.Certificate.load(leaf.dump())
    assert reloaded.subject.native == {
        "country_name": "TH",
        "organization_name": "สำนักงานทดสอบ",
        "organizational_unit_name": "ฝ่ายบัญชี",
        "common_name": "สมชาย ใจดี",
        "surname": "ใจดี",
        "given_name": "สมชาย",
        "email_address": "somchai@example.org",
    }
    common_name = next(
        attribute for rdn in reloaded.subject.chosen for attribute in rdn if attribute["type"].native == "common_name"
    )
    assert common_name["value"].name == "utf8_string"


def test_certificate_profiles_carry_the_required_extensions(chain):
    leaf = issue(chain, label="signer")
    responder = issue(chain, label="responder", profile="ocsp")
    tsa = issue(chain, label="tsa", profile="tsa")
    extensions = {e["extn_id"].native: e for e in leaf["tbs_certificate"]["extensions"]}

    assert chain.root.ca and chain.root.self_signed == "maybe"
    assert chain.issuing.ca and chain.issuing.max_path_length == 0
    assert chain.root.key_usage_value.native == {"key_cert_sign", "crl_sign"}
    assert leaf.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert extensions["key_usage"]["critical"].native is True
    assert set(leaf.extended_key_usage_value.native) == {
        "email_protection",
        pki.DOCUMENT_SIGNING_EKU,
    }
    assert leaf.crl_distribution_points[0]["distribution_point"].native == ["http://127.0.0.1:9/pki/issuing.crl"]
    assert leaf.ocsp_urls == ["http://127.0.0.1:9/pki/ocsp"]
    assert leaf.authority_key_identifier == chain.issuing.key_identifier
    assert leaf.key_identifier == leaf.public_key.sha1
    assert responder.extended_key_usage_value.native == ["ocsp_signing"]
    assert responder.ocsp_no_check_value is not None
    tsa_eku = next(e for e in tsa["tbs_certificate"]["extensions"] if e["extn_id"].native == "extended_key_usage")
    assert tsa_eku["critical"].native is True and tsa_eku["extn_value"].native == ["time_stamping"]
    assert pki.certificate_matches_key(leaf, hsm.key_public(label="signer"))
    assert not pki.certificate_matches_key(leaf, hsm.key_public(label="tsa"))


def test_crl_verifies_with_openssl_and_lists_the_revocations(chain, tmp_path):
    now = datetime.now(tz=UTC)
    revoked_at = now - timedelta(hours=1)
    certificate_list = pki.build_crl(
        issuer_cert=chain.issuing,
        issuer_key_label=chain.issuing_key,
        revoked=[
            (1001, revoked_at, "key_compromise"),
            (1002, revoked_at, "unspecified"),
        ],
        crl_number=7,
        this_update=now,
        next_update=now + timedelta(days=1),
    )
    crl_path = tmp_path / "issuing.crl"
    crl_path.write_bytes(certificate_list.dump())
    issuing_pem = _write_pem(tmp_path / "issuing.pem", chain.issuing)
    root_pem = _write_pem(tmp_path / "root.pem", chain.root)

    result = _openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        crl_path,
        "-CAfile",
        issuing_pem,
        "-noout",
        "-text",
    )
    assert result.returncode == 0 and "verify OK" in result.stderr, result.stderr
    assert "Key Compromise" in result.stdout
    # Signed by the issuing CA, so the root's key must not verify it.
    wrong = _openssl("crl", "-inform", "DER", "-in", crl_path, "-CAfile", root_pem, "-noout")
    assert "verify OK" not in wrong.stderr

    reloaded = crl.CertificateList.load(crl_path.read_bytes())
    assert reloaded.crl_number_value.native == 7
    assert [entry["user_certificate"].native for entry in reloaded["tbs_cert_list"]["revoked_certificates"]] == [
        1001,
        1002,
    ]

    empty = pki.build_crl(
        issuer_cert=chain.issuing,
        issuer_key_label=chain.issuing_key,
        revoked=[],
        crl_number=8,
        this_update=now,
        next_update=now + timedelta(days=1),
    )
    crl_path.write_bytes(empty.dump())
    assert "verify OK" in _openssl("crl", "-inform", "DER", "-in", crl_path, "-CAfile", issuing_pem, "-noout").stderr


@pytest.mark.parametrize("revoked", [False, True])
def test_ocsp_response_verifies_in_openssl_for_good_and_revoked(chain, tmp_path, revoked):
    leaf = issue(chain, label="signer")
    responder = issue(chain, label="responder", profile="ocsp")
    root_pem = _write_pem(tmp_path / "root.pem", chain.root)
    issuing_pem = _write_pem(tmp_path / "issuing.pem", chain.issuing)
    leaf_pem = _write_pem(tmp_path / "leaf.pem", leaf)
    request_path, response_path = tmp_path / "req.der", tmp_path / "resp.der"
    assert _openssl("ocsp", "-issuer", issuing_pem, "-cert", leaf_pem, "-reqout", request_path).returncode == 0
    revoked_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    asked = []

    def status_for_serial(serial: int):
        asked.append(serial)
        return ("revoked", revoked_at, "key_compromise") if revoked else ("good", None, None)

    response_path.write_bytes(
        pki.build_ocsp_response(
            request_der=request_path.read_bytes(),
            status_for_serial=status_for_serial,
            issuer_cert=chain.issuing,
            responder_cert=responder,
            responder_key_label="responder",
            now=datetime.now(tz=UTC),
        )
    )

    # The request as sent: signature, chain and the echoed nonce.
    verified = _openssl(
        "ocsp", "-reqin", request_path, "-respin", response_path,
        "-CAfile", root_pem, "-verify_other", issuing_pem,
    )  # fmt: skip
    assert verified.returncode == 0 and "Response verify OK" in verified.stderr, verified.stderr
    # A request with a different nonce must not match this response, so the check above is real.
    other_request = tmp_path / "other.der"
    _openssl("ocsp", "-issuer", issuing_pem, "-cert", leaf_pem, "-reqout", other_request)
    mismatch = _openssl(
        "ocsp", "-reqin", other_request, "-respin", response_path,
        "-CAfile", root_pem, "-verify_other", issuing_pem,
    )  # fmt: skip
    assert "Nonce Verify error" in mismatch.stderr
    # The status openssl reads for the certificate (a fresh request per run, hence -no_nonce).
    result = _openssl(
        "ocsp", "-issuer", issuing_pem, "-cert", leaf_pem, "-respin", response_path,
        "-CAfile", root_pem, "-verify_other", issuing_pem, "-no_nonce",
    )  # fmt: skip
    assert "Response verify OK" in result.stderr, result.stderr
    assert asked == [leaf.serial_number]
    if revoked:
        assert f"{leaf_pem}: revoked" in result.stdout
        assert "Reason: keyCompromise" in result.stdout
        assert "Revocation Time: Jan  2 03:04:05 2026 GMT" in result.stdout
    else:
        assert f"{leaf_pem}: good" in result.stdout

    basic = ocsp.OCSPResponse.load(response_path.read_bytes()).basic_ocsp_response
    _verify_signature(responder, basic["signature"].native, basic["tbs_response_data"].dump())


def test_ocsp_for_another_issuer_is_unknown_and_garbage_is_malformed(chain, tmp_path):
    responder = issue(chain, label="responder", profile="ocsp")
    foreign = issue(chain, label="foreign")  # issued by the issuing CA, asked about as if by the root
    root_pem = _write_pem(tmp_path / "root.pem", chain.root)
    foreign_pem = _write_pem(tmp_path / "foreign.pem", foreign)
    request_path = tmp_path / "req.der"
    _openssl("ocsp", "-issuer", root_pem, "-cert", foreign_pem, "-reqout", request_path)

    answer = ocsp.OCSPResponse.load(
        pki.build_ocsp_response(
            request_der=request_path.read_bytes(),
            status_for_serial=lambda serial: ("good", None, None),
            issuer_cert=chain.issuing,
            responder_cert=responder,
            responder_key_label="responder",
            now=datetime.now(tz=UTC),
        )
    )
    single = answer.basic_ocsp_response["tbs_response_data"]["responses"][0]
    assert single["cert_status"].name == "unknown"

    for garbage in (b"", b"not der at all", b"\x30\x03\x02\x01\x01"):
        malformed = pki.build_ocsp_response(
            request_der=garbage,
            status_for_serial=lambda serial: ("good", None, None),
            issuer_cert=chain.issuing,
            responder_cert=responder,
            responder_key_label="responder",
            now=datetime.now(tz=UTC),
        )
        assert ocsp.OCSPResponse.load(malformed)["response_status"].native == "malformed_request"


def _tsa_material(chain):
    tsa_cert = issue(chain, label="tsa", profile="tsa", algorithm="ec-p256")
    return tsa_cert, [chain.issuing, chain.root]


def test_timestamp_response_verifies_with_openssl_ts(chain, tmp_path):
    tsa_cert, tsa_chain = _tsa_material(chain)
    data_path = tmp_path / "data.bin"
    data_path.write_bytes("เอกสาร".encode() * 50)
    query, reply = tmp_path / "req.tsq", tmp_path / "resp.tsr"
    assert _openssl("ts", "-query", "-data", data_path, "-sha256", "-cert", "-out", query).returncode == 0
    root_pem = _write_pem(tmp_path / "root.pem", chain.root)
    untrusted = tmp_path / "untrusted.pem"
    untrusted.write_bytes(pem.armor("CERTIFICATE", chain.issuing.dump()))

    reply.write_bytes(
        pki.build_timestamp_response(
            request_der=query.read_bytes(),
            tsa_cert=tsa_cert,
            tsa_key_label="tsa",
            chain=tsa_chain,
            serial_number=42,
            now=datetime.now(tz=UTC),
        )
    )

    result = _openssl(
        "ts",
        "-verify",
        "-queryfile",
        query,
        "-in",
        reply,
        "-CAfile",
        root_pem,
        "-untrusted",
        untrusted,
    )
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stdout + result.stderr
    other_data = tmp_path / "other.bin"
    other_data.write_bytes(b"something else")
    mismatch = _openssl(
        "ts",
        "-verify",
        "-data",
        other_data,
        "-in",
        reply,
        "-CAfile",
        root_pem,
        "-untrusted",
        untrusted,
    )
    assert mismatch.returncode != 0

    token_info = tsp.TimeStampResp.load(reply.read_bytes())["time_stamp_token"]["content"]
    assert token_info["encap_content_info"]["content_type"].native == "tst_info"
    attributes = {a["type"].native for a in token_info["signer_infos"][0]["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_certificate_v2"} <= attributes

    rejected = core.Sequence.load(
        pki.build_timestamp_response(
            request_der=b"garbage",
            tsa_cert=tsa_cert,
            tsa_key_label="tsa",
            chain=tsa_chain,
            serial_number=43,
            now=datetime.now(tz=UTC),
        )
    )
    # Only the status is present on a rejection (RFC 3161 2.4.2).
    assert len(rejected) == 1
    assert tsp.PKIStatusInfo.load(rejected[0].dump())["status"].native == "rejection"


def _serve_tsa(tsa_cert, tsa_chain, port_queue) -> None:
    serials = iter(range(1000, 2000))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            answer = pki.build_timestamp_response(
                request_der=body,
                tsa_cert=tsa_cert,
                tsa_key_label="tsa",
                chain=tsa_chain,
                serial_number=next(serials),
                now=datetime.now(tz=UTC),
            )
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _blank_pdf() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def test_pyhanko_accepts_timestamps_from_the_tsa_over_http(chain, tmp_path):
    tsa_cert, tsa_chain = _tsa_material(chain)
    signer_cert = issue(chain, label="signer")
    context = multiprocessing.get_context("fork")
    port_queue = context.Queue()
    # A separate process, like the real TSA endpoint: it also exercises the pool after a fork.
    server = context.Process(target=_serve_tsa, args=(tsa_cert, tsa_chain, port_queue), daemon=True)
    server.start()
    try:
        port = port_queue.get(timeout=30)
        timestamper = HTTPTimeStamper(f"http://127.0.0.1:{port}/tsa", timeout=30)
        with hsm.signer(label="signer", signing_cert=signer_cert, other_certs=[chain.issuing]) as pdf_signer:
            signed = signers.sign_pdf(
                IncrementalPdfFileWriter(io.BytesIO(_blank_pdf())),
                signers.PdfSignatureMetadata(field_name="Sig1"),
                signer=pdf_signer,
                timestamper=timestamper,
            )
    finally:
        server.terminate()
        server.join(timeout=10)

    validation_context = ValidationContext(trust_roots=[chain.root], allow_fetching=False, revocation_mode="soft-fail")
    status = validate_pdf_signature(PdfFileReader(signed).embedded_signatures[0], validation_context)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.valid
    assert status.timestamp_validity.trusted
    assert abs(status.timestamp_validity.timestamp - datetime.now(tz=UTC)) < timedelta(minutes=5)

    pdf_path = tmp_path / "timestamped.pdf"
    pdf_path.write_bytes(signed.getvalue())
    assert_pdfsig_all_valid(pdfsig_report(pdf_path, [chain.root.dump()], tmp_path), expected_count=1)


def test_csr_is_self_signed_by_the_token_key(chain, tmp_path):
    public_key = hsm.key_generate(label="external", algorithm="rsa2048")
    request = pki.build_csr(public_key=public_key, key_label="external", subject=THAI_SUBJECT)
    csr_path = tmp_path / "request.csr"
    csr_path.write_text(pki.csr_to_pem(request))

    result = _openssl("req", "-in", csr_path, "-verify", "-noout", "-subject", "-nameopt", "utf8")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stdout + result.stderr
    assert "CN=สมชาย ใจดี" in result.stdout.replace(" = ", "=")

"""X.509 objects of the internal CA, built with asn1crypto and signed by keys that live in the HSM.

Pure functions, no Django and no database: callers pass labels of HSM keys, certificates and
whatever state (serials, revocations) a structure needs. This module owns the profiles: what a
root, an issuing CA, a signer, an OCSP responder and a TSA certificate contain, and how CRLs,
OCSP responses (RFC 6960), RFC 3161 timestamp responses and CSRs are put together.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from asn1crypto import algos, cms, core, crl, csr, keys, ocsp, pem, tsp, x509

from core import hsm

__all__ = [
    "DOCUMENT_SIGNING_EKU",
    "TSA_POLICY_OID",
    "build_crl",
    "build_csr",
    "build_end_entity",
    "build_issuing_ca",
    "build_ocsp_response",
    "build_root_ca",
    "build_timestamp_response",
    "certificate_matches_key",
    "csr_to_pem",
    "random_serial",
]

# id-kp-documentSigning (RFC 9336).
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
# A UUID-derived OID (X.667 arc 2.25) so the policy needs no registered enterprise number.
TSA_POLICY_OID = "2.25.216130961624468437343178470226512393507"
_SUBJECT_FIELDS = {
    "country": "country_name",
    "organization": "organization_name",
    "organizational_unit": "organizational_unit_name",
    "common_name": "common_name",
    "surname": "surname",
    "given_name": "given_name",
    "email": "email_address",
}
_CRL_REASONS = {
    "unspecified",
    "key_compromise",
    "ca_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
    "remove_from_crl",
    "privilege_withdrawn",
    "aa_compromise",
}
_CLOCK_SKEW = timedelta(minutes=5)


def record_serial() -> int:
    """A positive 120-bit serial for the certificates and timestamps dsign's CA issues (kept as hex)."""
    return secrets.randbits(120) | (1 << 119)


def random_serial() -> int:
    """A positive 159-bit serial: unpredictable, and at most 20 octets once DER-encoded."""
    return secrets.randbits(159) | (1 << 158)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def _time(moment: datetime) -> x509.Time:
    moment = _utc(moment)
    # RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    if moment.year < 2050:
        return x509.Time(name="utc_time", value=moment)
    return x509.Time(name="general_time", value=moment)


def _name(subject: dict) -> x509.Name:
    unknown = set(subject) - set(_SUBJECT_FIELDS)
    if unknown:
        raise ValueError(f"unknown subject fields: {sorted(unknown)}")
    values = {_SUBJECT_FIELDS[key]: value for key, value in subject.items() if value}
    # use_printable=False keeps every string a UTF8String so Thai names are carried as written.
    return x509.Name.build(values, use_printable=False)


def _signature_algorithm(key_label: str) -> algos.SignedDigestAlgorithm:
    name = hsm.signature_algorithm_for(key_label)
    if name.endswith("_rsa"):
        # RSA AlgorithmIdentifiers carry an explicit NULL (RFC 4055); ECDSA ones carry none.
        return algos.SignedDigestAlgorithm({"algorithm": name, "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": name})


def _key_identifier(public_key: keys.PublicKeyInfo) -> bytes:
    # RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits.
    return public_key.sha1


def _extension(extn_id: str, value, *, critical: bool = False) -> dict:
    return {"extn_id": extn_id, "critical": critical, "extn_value": value}


def _uri(url: str) -> x509.GeneralName:
    return x509.GeneralName(name="uniform_resource_identifier", value=url)


def _crl_distribution_points(url: str) -> dict:
    return _extension(
        "crl_distribution_points",
        [{"distribution_point": {"full_name": [_uri(url)]}}],
    )


def _authority_information_access(*, ocsp_url: str | None, ca_issuers_url: str | None) -> dict:
    descriptions = []
    if ocsp_url:
        descriptions.append({"access_method": "ocsp", "access_location": _uri(ocsp_url)})
    if ca_issuers_url:
        descriptions.append({"access_method": "ca_issuers", "access_location": _uri(ca_issuers_url)})
    return _extension("authority_information_access", descriptions)


def _issuer_key_identifier(issuer_cert: x509.Certificate) -> bytes:
    return issuer_cert.key_identifier or _key_identifier(issuer_cert.public_key)


def _sign_certificate(tbs: dict, *, issuer_key_label: str) -> x509.Certificate:
    signature_algorithm = _signature_algorithm(issuer_key_label)
    tbs_certificate = x509.TbsCertificate({**tbs, "version": "v3", "signature": signature_algorithm})
    signature = hsm.sign_raw(label=issuer_key_label, data=tbs_certificate.dump())
    return x509.Certificate(
        {
            "tbs_certificate": tbs_certificate,
            "signature_algorithm": signature_algorithm,
            "signature_value": signature,
        }
    )


def _validity(*, not_before: datetime, not_after: datetime) -> dict:
    return {"not_before": _time(not_before), "not_after": _time(not_after)}


def build_root_ca(
    *,
    key_label: str,
    common_name: str,
    organization: str,
    country: str = "TH",
    validity_days: int,
) -> x509.Certificate:
    """A self-signed root CA certificate for the token key ``key_label``."""
    public_key = hsm.key_public(label=key_label)
    name = _name({"country": country, "organization": organization, "common_name": common_name})
    now = datetime.now(tz=UTC)
    tbs = {
        "serial_number": random_serial(),
        "issuer": name,
        "subject": name,
        "validity": _validity(not_before=now - _CLOCK_SKEW, not_after=now + timedelta(days=validity_days)),
        "subject_public_key_info": public_key,
        "extensions": [
            _extension("basic_constraints", {"ca": True}, critical=True),
            _extension("key_usage", {"key_cert_sign", "crl_sign"}, critical=True),
            _extension("key_identifier", _key_identifier(public_key)),
        ],
    }
    return _sign_certificate(tbs, issuer_key_label=key_label)


def build_issuing_ca(
    *,
    key_label: str,
    common_name: str,
    organization: str,
    issuer_cert: x509.Certificate,
    issuer_key_label: str,
    validity_days: int,
    crl_url: str,
    ca_issuers_url: str,
    country: str = "TH",
) -> x509.Certificate:
    """An issuing CA certificate (path length 0) signed by the root key ``issuer_key_label``."""
    public_key = hsm.key_public(label=key_label)
    now = datetime.now(tz=UTC)
    not_after = min(now + timedelta(days=validity_days), issuer_cert.not_valid_after)
    tbs = {
        "serial_number": random_serial(),
        "issuer": issuer_cert.subject,
        "subject": _name(
            {
                "country": country,
                "organization": organization,
                "common_name": common_name,
            }
        ),
        "validity": _validity(not_before=now - _CLOCK_SKEW, not_after=not_after),
        "subject_public_key_info": public_key,
        "extensions": [
            _extension(
                "basic_constraints",
                {"ca": True, "path_len_constraint": 0},
                critical=True,
            ),
            _extension("key_usage", {"key_cert_sign", "crl_sign"}, critical=True),
            _extension("key_identifier", _key_identifier(public_key)),
            _extension(
                "authority_key_identifier",
                {"key_identifier": _issuer_key_identifier(issuer_cert)},
            ),
            _crl_distribution_points(crl_url),
            _authority_information_access(ocsp_url=None, ca_issuers_url=ca_issuers_url),
        ],
    }
    return _sign_certificate(tbs, issuer_key_label=issuer_key_label)


def build_end_entity(
    *,
    public_key: keys.PublicKeyInfo,
    subject: dict,
    issuer_cert: x509.Certificate,
    issuer_key_label: str,
    serial_number: int,
    not_before: datetime,
    not_after: datetime,
    crl_url: str,
    ocsp_url: str | None,
    ca_issuers_url: str,
    profile: str = "signing",
    extended_key_usage: bool = True,
) -> x509.Certificate:
    """A leaf certificate. ``profile`` is "signing" (people), "encryption" (people's key-transport
    key: keyEncipherment only, so it can never pass for a signing certificate), "ocsp" (responder) or "tsa".

    For "signing", ``extended_key_usage=False`` leaves EKU out entirely (some relying parties
    prefer that); otherwise it names emailProtection and documentSigning.
    """
    extensions = [
        _extension("key_identifier", _key_identifier(public_key)),
        _extension(
            "authority_key_identifier",
            {"key_identifier": _issuer_key_identifier(issuer_cert)},
        ),
        _extension("basic_constraints", {"ca": False}, critical=True),
    ]
    if profile == "signing":
        extensions.append(_extension("key_usage", {"digital_signature", "non_repudiation"}, critical=True))
        if extended_key_usage:
            extensions.append(_extension("extended_key_usage", ["email_protection", DOCUMENT_SIGNING_EKU]))
        if subject.get("email"):
            extensions.append(
                _extension(
                    "subject_alt_name",
                    [x509.GeneralName(name="rfc822_name", value=subject["email"])],
                )
            )
        extensions.append(_crl_distribution_points(crl_url))
        extensions.append(_authority_information_access(ocsp_url=ocsp_url, ca_issuers_url=ca_issuers_url))
    elif profile == "encryption":
        extensions.append(_extension("key_usage", {"key_encipherment"}, critical=True))
        extensions.append(_extension("extended_key_usage", ["email_protection"]))
        if subject.get("email"):
            extensions.append(
                _extension("subject_alt_name", [x509.GeneralName(name="rfc822_name", value=subject["email"])])
            )
        extensions.append(_crl_distribution_points(crl_url))
        extensions.append(_authority_information_access(ocsp_url=ocsp_url, ca_issuers_url=ca_issuers_url))
    elif profile == "ocsp":
        extensions.append(_extension("key_usage", {"digital_signature"}, critical=True))
        extensions.append(_extension("extended_key_usage", ["ocsp_signing"]))
        # Relying parties must not ask OCSP about the responder's own certificate (RFC 6960 4.2.2.2.1).
        extensions.append(_extension("ocsp_no_check", core.Null()))
        extensions.append(_authority_information_access(ocsp_url=None, ca_issuers_url=ca_issuers_url))
    elif profile == "tsa":
        extensions.append(_extension("key_usage", {"digital_signature", "non_repudiation"}, critical=True))
        # RFC 3161 2.3: the TSA certificate has exactly this EKU, marked critical.
        extensions.append(_extension("extended_key_usage", ["time_stamping"], critical=True))
        extensions.append(_crl_distribution_points(crl_url))
        extensions.append(_authority_information_access(ocsp_url=ocsp_url, ca_issuers_url=ca_issuers_url))
    else:
        raise ValueError(f"unknown certificate profile {profile!r}")
    tbs = {
        "serial_number": serial_number,
        "issuer": issuer_cert.subject,
        "subject": _name(subject),
        "validity": _validity(not_before=not_before, not_after=not_after),
        "subject_public_key_info": public_key,
        "extensions": extensions,
    }
    return _sign_certificate(tbs, issuer_key_label=issuer_key_label)


def build_crl(
    *,
    issuer_cert: x509.Certificate,
    issuer_key_label: str,
    revoked: list[tuple[int, datetime, str]],
    crl_number: int,
    this_update: datetime,
    next_update: datetime,
) -> crl.CertificateList:
    """A v2 CRL of ``revoked`` (serial, revocation time, RFC 5280 reason name), signed in the HSM."""
    entries = []
    for serial, revoked_at, reason in revoked:
        if reason not in _CRL_REASONS:
            raise ValueError(f"unknown revocation reason {reason!r}")
        entry = {"user_certificate": serial, "revocation_date": _time(revoked_at)}
        if reason != "unspecified":
            # RFC 5280 5.3.1: leave the reason out rather than say "unspecified".
            entry["crl_entry_extensions"] = [_extension("crl_reason", reason)]
        entries.append(entry)
    signature_algorithm = _signature_algorithm(issuer_key_label)
    tbs = {
        "version": "v2",
        "signature": signature_algorithm,
        "issuer": issuer_cert.subject,
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": [
            _extension(
                "authority_key_identifier",
                {"key_identifier": _issuer_key_identifier(issuer_cert)},
            ),
            _extension("crl_number", crl_number),
        ],
    }
    if entries:
        # An empty revokedCertificates SEQUENCE is not allowed; the field is simply absent.
        tbs["revoked_certificates"] = entries
    tbs_cert_list = crl.TbsCertList(tbs)
    signature = hsm.sign_raw(label=issuer_key_label, data=tbs_cert_list.dump())
    return crl.CertificateList(
        {
            "tbs_cert_list": tbs_cert_list,
            "signature_algorithm": signature_algorithm,
            "signature": signature,
        }
    )


def _ocsp_error(status: str) -> bytes:
    return ocsp.OCSPResponse({"response_status": status}).dump()


def _cert_id_matches_issuer(cert_id: ocsp.CertId, issuer_cert: x509.Certificate) -> bool:
    hash_name = cert_id["hash_algorithm"]["algorithm"].native
    if hash_name not in hashlib.algorithms_guaranteed:
        return False
    name_hash = hashlib.new(hash_name, issuer_cert.subject.dump()).digest()
    key_hash = hashlib.new(hash_name, bytes(issuer_cert.public_key["public_key"])).digest()
    return cert_id["issuer_name_hash"].native == name_hash and cert_id["issuer_key_hash"].native == key_hash


def build_ocsp_response(
    *,
    request_der: bytes,
    status_for_serial: Callable[[int], tuple[str, datetime | None, str | None]],
    issuer_cert: x509.Certificate,
    responder_cert: x509.Certificate,
    responder_key_label: str,
    now: datetime,
    next_update_in: timedelta = timedelta(hours=12),
) -> bytes:
    """A DER OCSPResponse for ``request_der``; a request that does not parse gets malformedRequest.

    ``status_for_serial(serial)`` returns ("good"|"revoked"|"unknown", revoked_at, reason).
    Certificates of another issuer are answered "unknown".
    """
    try:
        request = ocsp.OCSPRequest.load(request_der)
        tbs_request = request["tbs_request"]
        request_list = list(tbs_request["request_list"])
        for item in request_list:
            item["req_cert"]["serial_number"].native  # noqa: B018 - forces a full parse
        nonce = request.nonce_value
    except (ValueError, TypeError, KeyError):
        return _ocsp_error("malformed_request")
    if not request_list:
        return _ocsp_error("malformed_request")

    produced_at = _utc(now)
    responses = []
    for item in request_list:
        cert_id = item["req_cert"]
        if _cert_id_matches_issuer(cert_id, issuer_cert):
            status, revoked_at, reason = status_for_serial(cert_id["serial_number"].native)
        else:
            status, revoked_at, reason = "unknown", None, None
        if status == "good":
            cert_status = ocsp.CertStatus(name="good", value=core.Null())
        elif status == "revoked":
            revoked_info = {"revocation_time": _utc(revoked_at)}
            if reason and reason != "unspecified":
                revoked_info["revocation_reason"] = reason
            cert_status = ocsp.CertStatus(name="revoked", value=revoked_info)
        elif status == "unknown":
            cert_status = ocsp.CertStatus(name="unknown", value=core.Null())
        else:
            raise ValueError(f"status_for_serial returned {status!r}")
        responses.append(
            {
                "cert_id": cert_id,
                "cert_status": cert_status,
                "this_update": produced_at,
                "next_update": produced_at + next_update_in,
            }
        )

    response_data = {
        "version": "v1",
        "responder_id": ocsp.ResponderId(name="by_key", value=_key_identifier(responder_cert.public_key)),
        "produced_at": produced_at,
        "responses": responses,
    }
    if nonce is not None:
        response_data["response_extensions"] = [_extension("nonce", nonce.native)]
    tbs_response = ocsp.ResponseData(response_data)
    signature_algorithm = _signature_algorithm(responder_key_label)
    signature = hsm.sign_raw(label=responder_key_label, data=tbs_response.dump())
    basic = ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": tbs_response,
            "signature_algorithm": signature_algorithm,
            "signature": signature,
            "certs": [responder_cert],
        }
    )
    return ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {
                "response_type": "basic_ocsp_response",
                "response": basic,
            },
        }
    ).dump()


class _TimeStampResp(core.Sequence):
    # asn1crypto's TimeStampResp makes the token mandatory; RFC 3161 omits it on rejection.
    _fields: ClassVar[list] = [
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


def _tsa_rejection(failure: str, text: str) -> bytes:
    return _TimeStampResp(
        {
            "status": {
                "status": "rejection",
                "status_string": [text],
                "fail_info": tsp.PKIFailureInfo({failure}),
            }
        }
    ).dump()


def _signing_certificate_v2(cert: x509.Certificate) -> dict:
    # ESSCertIDv2 with SHA-256 (the default hash, so the algorithm is left out per RFC 5035).
    return {
        "certs": [
            {
                "cert_hash": hashlib.sha256(cert.dump()).digest(),
                "issuer_serial": {
                    "issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
                    "serial_number": cert.serial_number,
                },
            }
        ]
    }


def build_timestamp_response(
    *,
    request_der: bytes,
    tsa_cert: x509.Certificate,
    tsa_key_label: str,
    chain: list[x509.Certificate],
    serial_number: int,
    now: datetime,
) -> bytes:
    """An RFC 3161 TimeStampResp: a CMS SignedData over TSTInfo, signed by the HSM key."""
    try:
        request = tsp.TimeStampReq.load(request_der)
        imprint = request["message_imprint"]
        hash_name = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        nonce = request["nonce"].native
        policy = request["req_policy"].native
        cert_req = bool(request["cert_req"].native)
    except (ValueError, TypeError, KeyError):
        return _tsa_rejection("bad_data_format", "the request is not a TimeStampReq")
    if hash_name not in {"sha256", "sha384", "sha512"}:
        return _tsa_rejection("bad_alg", f"unsupported hash algorithm {hash_name}")
    if len(hashed) != hashlib.new(hash_name).digest_size:
        return _tsa_rejection("bad_data_format", "the message imprint has the wrong length")
    if policy is not None and policy != TSA_POLICY_OID:
        return _tsa_rejection("unaccepted_policy", "this TSA issues tokens under its own policy only")

    gen_time = _utc(now)
    tst_info_fields = {
        "version": "v1",
        "policy": TSA_POLICY_OID,
        "message_imprint": imprint,
        "serial_number": serial_number,
        "gen_time": gen_time,
        "accuracy": {"seconds": 1},
        "tsa": x509.GeneralName(name="directory_name", value=tsa_cert.subject),
    }
    if nonce is not None:
        tst_info_fields["nonce"] = nonce
    tst_info_der = tsp.TSTInfo(tst_info_fields).dump()

    signed_attrs = cms.CMSAttributes(
        [
            {"type": "content_type", "values": ["tst_info"]},
            {
                "type": "signing_time",
                "values": [cms.Time(name="utc_time", value=gen_time)],
            },
            {
                "type": "signing_certificate_v2",
                "values": [_signing_certificate_v2(tsa_cert)],
            },
            {
                "type": "message_digest",
                "values": [hashlib.sha256(tst_info_der).digest()],
            },
        ]
    )
    signature = hsm.sign_raw(label=tsa_key_label, data=signed_attrs.dump())
    signature_algorithm = _signature_algorithm(tsa_key_label)
    digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"})
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": {
                "issuer_and_serial_number": {
                    "issuer": tsa_cert.issuer,
                    "serial_number": tsa_cert.serial_number,
                }
            },
            "digest_algorithm": digest_algorithm,
            "signed_attrs": signed_attrs,
            "signature_algorithm": signature_algorithm,
            "signature": signature,
        }
    )
    signed_data = {
        "version": "v3",
        "digest_algorithms": [digest_algorithm],
        "encap_content_info": {
            "content_type": "tst_info",
            "content": core.ParsableOctetString(tst_info_der),
        },
        "signer_infos": [signer_info],
    }
    if cert_req:
        signed_data["certificates"] = [tsa_cert, *chain]
    token = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


def build_csr(*, public_key: keys.PublicKeyInfo, key_label: str, subject: dict, sign=None) -> csr.CertificationRequest:
    """A PKCS#10 request for an external CA, signed by the token key (proof of possession).

    ``sign(label, data)`` makes the signature (default: this process's token; users' keys are
    signed by the signer process, certificates.user_keys.csr_sign).
    """
    info = csr.CertificationRequestInfo(
        {
            "version": "v1",
            "subject": _name(subject),
            "subject_pk_info": public_key,
            "attributes": [],
        }
    )
    if public_key.algorithm == "rsa":
        signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": "sha256_rsa", "parameters": core.Null()})
    else:
        signature_algorithm = algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
    if sign is None:
        signature = hsm.sign_raw(label=key_label, data=info.dump())
    else:
        signature = sign(key_label, info.dump())
    return csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": signature_algorithm,
            "signature": signature,
        }
    )


def csr_to_pem(request: csr.CertificationRequest) -> str:
    return pem.armor("CERTIFICATE REQUEST", request.dump()).decode("ascii")


def certificate_matches_key(cert: x509.Certificate, public_key: keys.PublicKeyInfo) -> bool:
    return cert.public_key.dump() == public_key.dump()

"""The verifier's adaptations of pyHanko/asn1crypto (signing.verification_patches) fail loudly when upstream
changes: the installed versions and the source of every replaced or relied-on function are the ones the
adaptations were written against. When one of these fails, re-read the upstream change, adapt, and
update TARGETS / UPSTREAM_SOURCES."""

import hashlib
import importlib
import inspect
import io
from importlib.metadata import version

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers

from signing import verification_patches as patches
from signing.archive import archive_diff_policy
from tests.signing.test_verification_unit import pki  # noqa: F401 - fixture


@pytest.mark.parametrize("distribution", sorted(patches.TARGETS))
def test_installed_upstream_is_the_version_the_adaptations_target(distribution):
    assert version(distribution) == patches.TARGETS[distribution]


def _resolve(path: str):
    module_name, _, attribute = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("path", sorted(patches.UPSTREAM_SOURCES))
def test_upstream_source_is_unchanged(path):
    obj = _resolve(path)
    if path.endswith("read_hex_string_from_stream"):
        obj = patches._ORIGINAL_HEX_READER  # the installed fast path replaces it in this process
    if path.endswith("_ldap_string_prep"):
        obj = patches._ORIGINAL_NAME_PREP
    digest = hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]
    assert digest == patches.UPSTREAM_SOURCES[path], f"{path} changed upstream: review the adaptation"


def _sign(data: bytes, signer, name: str, *, lock_all: bool = False) -> bytes:
    spec = fields.SigFieldSpec(
        name,
        box=(50, 50, 200, 100),
        field_mdp_spec=fields.FieldMDPSpec(fields.FieldMDPAction.ALL) if lock_all else None,
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(data)),
        signers.PdfSignatureMetadata(field_name=name, subfilter=fields.SigSeedSubFilter.PADES),
        signer=signer,
        new_field_spec=spec,
    )
    return out.getvalue()


def test_linear_diff_gives_pyhankos_verdict_for_every_signature(pki):  # noqa: F811
    from tests.conftest import blank_pdf

    data = blank_pdf()
    for index in range(4):
        data = _sign(data, pki["signer"], f"Sig{index + 1}")
    reader = PdfFileReader(io.BytesIO(data))
    linear = patches.LinearDiffPolicy(archive_diff_policy())
    standard = archive_diff_policy()
    for embedded in reader.embedded_regular_signatures:
        expected = standard.review_file(reader, embedded.signed_revision)
        got = linear.review_file(reader, embedded.signed_revision)
        assert (got.modification_level, got.changed_form_fields) == (
            expected.modification_level,
            expected.changed_form_fields,
        )


def test_linear_diff_applies_a_field_lock_like_pyhanko(pki):  # noqa: F811
    from pyhanko.sign.diff_analysis import SuspiciousModification

    from tests.conftest import blank_pdf

    locked = _sign(blank_pdf(), pki["signer"], "Sig1", lock_all=True)
    data = _sign(locked, pki["signer"], "Sig2")
    reader = PdfFileReader(io.BytesIO(data))
    first = reader.embedded_regular_signatures[0]
    linear = patches.LinearDiffPolicy(archive_diff_policy())
    expected = archive_diff_policy().review_file(reader, first.signed_revision, field_mdp_spec=first.fieldmdp)
    got = linear.review_file(reader, first.signed_revision, field_mdp_spec=first.fieldmdp)
    assert isinstance(expected, SuspiciousModification) == isinstance(got, SuspiciousModification)

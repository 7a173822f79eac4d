"""The verifier's adaptations of pyHanko/asn1crypto (signing.verification_patches) fail loudly when upstream
changes: the installed versions and the source of every replaced or relied-on function are the ones the
adaptations were written against. When one of these fails, re-read the upstream change, adapt, and
update TARGETS / UPSTREAM_SOURCES."""

import hashlib
import importlib
import inspect
import io
from importlib.metadata import version

import pikepdf
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
    # an installed fast path replaces the upstream function in this process
    obj = patches.ORIGINALS.get(path) or _resolve(path)
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


# --- linear per revision (issue 17: 100 signatures in 2 s): pyHanko's own answers, compared with them off ---


def _documents(pki) -> dict[str, bytes]:  # noqa: F811
    """Signed files of the shapes dsign makes and forgers make: fields created per signature, dsign's
    locked route (every field made by the certifying first signature), a tagged file, forgeries."""
    from signing import pades
    from tests.conftest import blank_pdf
    from tests.signing import forgery_kit as kit
    from tests.signing.test_verification_unit import simple_signer

    _, foreign = simple_signer(root_name="Forger Root", common_name="Forger")

    plain = blank_pdf()
    for index in range(4):
        plain = _sign(plain, pki["signer"], f"Sig{index + 1}")
    route = [(f"Sig{i}_r1", 0, (36.0 + (i - 1) * 178, 36.0, 206.0 + (i - 1) * 178, 98.0)) for i in (1, 2, 3)]
    locked = blank_pdf()
    for name, page, box in route[:2]:
        locked = pades.sign_pdf(
            pdf=locked, signer=pki["signer"], field_name=name, page=page, box=box, route_fields=route
        )
    tagged = _tagged_pdf()
    for index in range(3):
        tagged = _sign(tagged, pki["signer"], f"Sig{index + 1}")
    return {
        "plain": plain,
        "locked": locked,
        "locked_overlay": kit.incremental(locked, lambda w: kit.add_overlay_field(w)),
        "locked_foreign_fill": pades.sign_pdf(pdf=locked, signer=foreign, field_name="Sig3_r1", route_fields=route),
        "plain_link": kit.incremental(plain, kit.add_link_annotation),
        "tagged": tagged,
    }


def _tagged_pdf() -> bytes:
    """A one-page PDF with a structure tree (pyHanko's walk treats it specially)."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    elem = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.StructElem, S=pikepdf.Name.P, P=None))
    root = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.StructTreeRoot, K=pikepdf.Array([elem])))
    elem.P = root
    pdf.Root.StructTreeRoot = root
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return out.getvalue()


def _pair_results(data: bytes) -> list:
    """Per revision, pyHanko's verdict and every form update that can change a verdict: one for an object
    the revision writes, or one a field lock or a certification refuses. (Upstream also approves, with no
    effect, the unchanged references of every untouched signature field; the fast path does not list them.)"""
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    policy = patches.LinearDiffPolicy(archive_diff_policy())
    found = []
    for revision in range(1, reader.xrefs.total_revisions):
        pair = policy.pair(reader, revision)
        result = pair.result
        written = reader.xrefs.explicit_refs_in_revision(revision)
        updates = sorted(
            (u.updated_ref.idnum, u.field_name or "", u.valid_when_locked, u.valid_when_certifying)
            for u in pair.updates
            if u.updated_ref in written or not (u.valid_when_locked and u.valid_when_certifying)
        )
        if hasattr(result, "modification_level"):
            found.append((revision, result.modification_level, sorted(result.changed_form_fields), updates))
        else:
            found.append((revision, type(result).__name__))
    return found


def _usages(data: bytes) -> dict:
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    asked = {}
    for revision in range(reader.xrefs.total_revisions - 1):
        old = reader.get_historical_resolver(revision)
        old._load_reverse_xref_cache()
        refs = set(reader.xrefs.explicit_refs_in_revision(revision + 1))
        refs |= {ref.reference for _name, _value, ref in fields.enumerate_sig_fields(reader) if ref is not None}
        asked[revision] = {(ref.idnum, ref.generation): old._get_usages_of_ref(ref) for ref in refs}
    return asked


def _upstream_only(mp) -> None:
    """pyHanko and its reader exactly as installed: every fast path taken out (until `mp` is undone)."""
    for path, original in patches.ORIGINALS.items():
        module_name, _, attribute = path.partition(":")
        owner = importlib.import_module(module_name)
        *parents, name = attribute.split(".")
        for part in parents:
            owner = getattr(owner, part)
        mp.setattr(owner, name, original)


def test_fast_paths_give_pyhankos_own_usages_and_pair_verdicts(pki, monkeypatch):  # noqa: F811
    documents = _documents(pki)
    with monkeypatch.context() as mp:
        _upstream_only(mp)
        expected = {name: (_usages(data), _pair_results(data)) for name, data in documents.items()}
    patches.install_fast_paths()
    for name, data in documents.items():
        usages, pairs = _usages(data), _pair_results(data)
        assert usages == expected[name][0], name
        for got, wanted in zip(pairs, expected[name][1], strict=True):
            assert got == wanted, name
    # a new visible field after the certification is an update a certified document does not allow
    *_, overlay_updates = expected["locked_overlay"][1][-1]
    assert any(not valid_when_certifying for *_, valid_when_certifying in overlay_updates)
    assert expected["plain_link"][1][-1][1] == "SuspiciousModification"


def test_an_object_stream_is_indexed_once_and_read_as_upstream_reads_it(monkeypatch):
    data = _tagged_pdf()
    with monkeypatch.context() as mp:
        _upstream_only(mp)
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        expected = {ref.idnum: repr(reader.get_object(ref)) for ref in reader.xrefs.explicit_refs_in_revision(0)}
    patches.install_fast_paths()
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    got = {ref.idnum: repr(reader.get_object(ref)) for ref in reader.xrefs.explicit_refs_in_revision(0)}
    assert got == expected and reader.__dict__.get("_dsign_objstm_index")

"""Every file of the shared validation corpus gets the verdict its MANIFEST.md demands.

None of the corpus signers chains to our trust roots, so nothing here may ever be valid; beyond that
each file must fail for the right reason (integrity, coverage, modifications, format, algorithm).
"""

import os
from pathlib import Path

import pytest
from asn1crypto import x509

from signing.verification import UnreadablePDF, verify_pdf_bytes

CORPUS = Path(__file__).resolve().parents[2].parent / "shared/testdata/pdf-validation"

if not CORPUS.is_dir():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"validation corpus missing at {CORPUS}; CI clones shared/ beside the repo")
    pytest.skip(f"validation corpus not found at {CORPUS}", allow_module_level=True)


def _signature(report: dict, index: int = 0) -> dict:
    return report["signatures"][index]


def _codes(report: dict) -> set[str]:
    codes = set(report["problem_codes"])
    for item in report["signatures"] + report["document_timestamps"]:
        codes |= set(item["problem_codes"])
    return codes


def format_failure(report: dict) -> None:
    signature = _signature(report)
    assert signature["status"] == "indeterminate"
    assert "format_failure" in signature["problem_codes"]
    assert report["status"] == "indeterminate"


def coverage_partial(report: dict) -> None:
    signature = _signature(report)
    assert signature["intact"] is True
    assert signature["coverage"] == "partial"
    assert "coverage_partial" in signature["problem_codes"]


def legitimate_form_fill_only_untrusted(report: dict) -> None:
    first = _signature(report)
    assert first["intact"] is True
    assert first["modifications"] == "form_filling"
    assert first["problem_codes"] == ["untrusted"]


def sneaky_form_fill(report: dict) -> None:
    first = _signature(report)
    assert first["intact"] is True
    assert first["modifications"] == "other"
    assert "modified_other" in first["problem_codes"]


def malformed(report: dict) -> None:
    assert report["status"] == "indeterminate"
    assert not _codes(report) & {"internal_error", "timeout"}


def signed_twice(report: dict) -> None:
    first, second = report["signatures"]
    assert first["intact"] is True and second["intact"] is True
    assert first["modifications"] == "form_filling"
    assert second["modifications"] == "none"
    assert "form_fields_changed" not in first["problem_codes"]


def pades_lta(report: dict) -> None:
    signature = _signature(report)
    assert signature["intact"] is True
    assert signature["modifications"] == "none"  # DSS and document timestamp are LTA updates
    assert signature["level"] == "B-LTA"
    assert signature["timestamp"] is not None
    (doc_ts,) = report["document_timestamps"]
    assert doc_ts["intact"] is True and doc_ts["trusted"] is False


def econtent(report: dict) -> None:
    signature = _signature(report)
    assert "format_failure" in signature["problem_codes"]


def not_baseline(report: dict) -> None:
    signature = _signature(report)
    assert signature["intact"] is True
    assert "not_baseline" in signature["problem_codes"]


def byterange_overlap(report: dict) -> None:
    second = _signature(report, 1)
    assert second["intact"] is False
    assert "not_intact" in second["problem_codes"]


def modified_other(report: dict) -> None:
    signature = _signature(report)
    assert signature["intact"] is True
    assert signature["modifications"] == "other"


def annotation_added(report: dict) -> None:
    signature = _signature(report)
    assert signature["modifications"] in ("annotations", "other")


def spoofing_attack(report: dict) -> None:
    assert report["valid"] is False


def shadow_attack(report: dict) -> None:
    signature = _signature(report)
    changed_value = "form_fields_changed" in signature["problem_codes"]
    assert changed_value or signature["modifications"] == "other"


def replaced_reason(report: dict) -> None:
    signature = _signature(report)
    assert signature["modifications"] == "other"


def trailing_bytes(report: dict) -> None:
    signature = _signature(report)
    assert signature["coverage"] == "partial"


def weak_algorithm(report: dict) -> None:
    assert "weak_algorithm" in _codes(report)
    assert all("weak_algorithm" in s["problem_codes"] for s in report["signatures"])


def coherent(report: dict) -> None:
    assert report["signatures"]
    for signature in report["signatures"]:
        assert signature["trusted"] is False
        assert "untrusted" in signature["problem_codes"] or signature["status"] == "indeterminate"


EXPECTATIONS = {
    "pyhanko/coverage-anomalies/base.pdf": format_failure,
    "pyhanko/coverage-anomalies/one-byterange.pdf": coverage_partial,
    "pyhanko/coverage-anomalies/weird-byterange.pdf": coverage_partial,
    "pyhanko/coverage-anomalies/signature-gap-too-big.pdf": coverage_partial,
    "pyhanko/coverage-anomalies/tail-uncovered.pdf": coverage_partial,
    "pyhanko/diff-sneaky/form-update-override-appearance-stream.pdf": legitimate_form_fill_only_untrusted,
    "pyhanko/diff-sneaky/form-update-ap-indirect-sneaky-trailer.pdf": sneaky_form_fill,
    "pyhanko/diff-sneaky/form-update-no-override-appearance-stream-ap-indirect-sneaky.pdf": sneaky_form_fill,
    "pyhanko/diff-sneaky/form-update-override-appearance-stream-ap-indirect-sneaky.pdf": sneaky_form_fill,
    "pyhanko/diff-sneaky/form-update-override-appearance-stream-sneaky.pdf": sneaky_form_fill,
    **{
        f"pyhanko/malformed/{name}.pdf": malformed
        for name in (
            "broken-objstream1",
            "broken-objstream3",
            "circular-page-tree",
            "form-tree-circular-ref-input",
            "malformed-encrypt-dict1",
            "minimal-badxref",
            "minimal-broken-xref-size",
            "minimal-hybrid-xref-mswordstyle",
            "minimal-illegal-header",
            "minimal-startxref-hopeless",
            "minimal-with-nonexistent-refs",
            "struct-tree-circular-ref",
        )
    },
    "pyhanko/signed-reference/minimal-signed-twice-both-created.pdf": signed_twice,
    "pyhanko/signed-reference/pades-lta-dss-indirect-arrs-test.pdf": pades_lta,
    "pyhanko/signed-reference/pdf-sig-with-econtent.pdf": econtent,
    "pyhanko/signed-reference/sig-no-signed-attrs.pdf": not_baseline,
    "pyhanko/signed-reference/pades-with-old-style-signing-cert-attr.pdf": not_baseline,
    "dss/pdf-byterange-overlap.pdf": byterange_overlap,
    "dss/pdf-signed-added-page.pdf": modified_other,
    "dss/pdf-removed-pages.pdf": modified_other,
    "dss/pades-signed-annot-added.pdf": annotation_added,
    "dss/pades-spoofing-replaced-reason.pdf": replaced_reason,
    "dss/pdf-spoofing-attack.pdf": spoofing_attack,
    "dss/pdf-double-signer-info.pdf": format_failure,
    "dss/dss-2236_hide.pdf": shadow_attack,
    "dss/dss-2236_replace.pdf": shadow_attack,
    "dss/dss-2236_annotation-and-visible-change.pdf": modified_other,
    "dss/pdf-with-empty-sig.pdf": format_failure,
    "dss/BadEncodedCMS.pdf": format_failure,
    "dss/pkcs7-no-message-digest.pdf": econtent,
    "dss/pdf-eof.pdf": trailing_bytes,
    "dss/pkcs7_sha1.pdf": weak_algorithm,
    "dss/PAdES-LT.pdf": coherent,
    "dss/pades-lta-copied-doctst.pdf": coherent,
    "dss/pades-t-duplicated-sigtst.pdf": coherent,
    "dss/signature-referenced-from-multiple-fields.pdf": coherent,
    "dss/dss-2554_certified-no-change-permitted.pdf": coherent,
    "dss/pades-multiple-pages-annots-overlap.pdf": coherent,
}

# Files that may be refused as unreadable (CLI exit 2) instead of getting an indeterminate report.
MAY_BE_UNREADABLE = {path for path, check in EXPECTATIONS.items() if check is malformed}
# /Encrypt null in the trailer: pyHanko will not open it, which is an acceptable refusal.
MAY_BE_UNREADABLE.add("dss/pdf-spoofing-attack.pdf")

CORPUS_FILES = sorted(str(path.relative_to(CORPUS)) for path in CORPUS.rglob("*.pdf"))


def test_every_corpus_file_has_an_expectation():
    assert set(CORPUS_FILES) == set(EXPECTATIONS)


@pytest.fixture(scope="module")
def dsign_root() -> x509.Certificate:
    # a root that signed nothing in the corpus, so every signer is untrusted as in production
    from tests.signing.test_verification_unit import _asn1_cert, _make_root

    return _asn1_cert(_make_root("dsign Corpus Test Root")[1])


@pytest.mark.parametrize("relative_path", CORPUS_FILES)
def test_corpus_file_gets_its_manifest_verdict(relative_path: str, dsign_root):
    data = (CORPUS / relative_path).read_bytes()
    try:
        report = verify_pdf_bytes(data=data, trust_roots=[dsign_root])
    except UnreadablePDF as exc:
        assert relative_path in MAY_BE_UNREADABLE, f"{relative_path} refused: {exc}"
        assert "\n" not in str(exc) and str(exc).strip()
        return

    assert report["valid"] is False
    assert report["status"] in ("invalid", "indeterminate")
    assert "internal_error" not in _codes(report), report
    for signature in report["signatures"]:
        assert signature["valid"] is False
        assert signature["level"] in ("B-B", "B-T", "B-LT", "B-LTA")
        assert signature["coverage"] in ("entire_file", "entire_revision", "partial")
        assert signature["modifications"] in ("none", "form_filling", "annotations", "other")
        assert signature["problems"], signature
    assert report["problems"]
    EXPECTATIONS[relative_path](report)

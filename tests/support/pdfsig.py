"""Run poppler's ``pdfsig`` against a private NSS database that trusts the given roots.

pdfsig exits 0 whether or not signatures are valid, so callers must read its text;
``assert_pdfsig_all_valid`` does that.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from asn1crypto import pem


def pdfsig_report(
    pdf_path: Path | str,
    trusted_roots_der: list[bytes],
    tmp_path: Path,
    *,
    online_ocsp: bool = False,
) -> str:
    """pdfsig's output for ``pdf_path`` with ``trusted_roots_der`` trusted for signing.

    Online OCSP is off by default: test certificates name responder URLs that nothing serves, and
    NSS then reports "Unknown issue with Certificate". Pass ``online_ocsp=True`` when a responder
    is really listening at the URL in the certificates.
    """
    nss_dir = Path(tmp_path) / "nssdb"
    if not nss_dir.exists():
        nss_dir.mkdir(parents=True)
        subprocess.run(
            ["certutil", "-N", "-d", f"sql:{nss_dir}", "--empty-password"],
            check=True,
            capture_output=True,
        )
    for index, root_der in enumerate(trusted_roots_der):
        root_file = nss_dir / f"root{index}.pem"
        root_file.write_bytes(pem.armor("CERTIFICATE", root_der))
        subprocess.run(
            [
                "certutil",
                "-A",
                "-d",
                f"sql:{nss_dir}",
                "-n",
                f"root{index}",
                "-t",
                "CT,C,C",
                "-i",
                str(root_file),
            ],
            check=True,
            capture_output=True,
        )
    command = ["pdfsig", "-nssdir", f"sql:{nss_dir}"]
    if not online_ocsp:
        command.append("-no-ocsp")
    result = subprocess.run(
        [*command, str(pdf_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout + result.stderr


def assert_pdfsig_all_valid(text: str, expected_count: int, *, empty: int | None = None) -> None:
    """Every one of ``expected_count`` signatures is valid and its certificate trusted. dsign's first
    signature makes every seat's field, so the seats that have not signed are listed empty: exactly
    ``empty`` of them when given, any number otherwise."""
    blocks = re.split(r"^Signature #\d+:", text, flags=re.MULTILINE)[1:]
    unsigned = [block for block in blocks if "The signature form field is not signed." in block]
    assert len(blocks) - len(unsigned) == expected_count, text
    if empty is not None:
        assert len(unsigned) == empty, text
    assert text.count("Signature Validation: Signature is Valid.") == expected_count, text
    assert text.count("Certificate Validation: Certificate is Trusted.") == expected_count, text

"""Static files are collected with hashed names and gzip copies and served with long lifetimes; dsign's own
ES modules reach pdf.js by hashed names too, so the whole viewer is cacheable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.web import ROOT, gunicorn, http_get

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_collected_static_files_are_hashed_gzipped_and_cached_for_years(tmp_path):
    static_root = tmp_path / "static"
    env = {
        **os.environ,
        "STATIC_ROOT": str(static_root),
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
    }
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, capture_output=True
    )
    assert collected.returncode == 0, collected.stderr[-2000:]
    pdfview = next(Path(static_root, "js").glob("pdfview.*.mjs"))
    worker = re.search(r'new URL\("\.\./vendor/pdfjs/build/(pdf\.worker\.min\.[0-9a-f]{12}\.mjs)"', pdfview.read_text())
    assert worker, "the pdf.js worker is not referenced by its hashed name"
    assert re.search(r'from "\.\./vendor/pdfjs/build/pdf\.min\.[0-9a-f]{12}\.mjs"', pdfview.read_text())

    with gunicorn(env) as base:
        status, _, page = http_get(f"{base}/accounts/login/")
        assert status == 200
        css = re.search(rb'href="(/static/css/dsign\.[0-9a-f]{12}\.css)"', page)
        assert css, "the page does not link the hashed stylesheet"
        for path in (css.group(1).decode(), f"/static/vendor/pdfjs/build/{worker.group(1)}"):
            status, headers, body = http_get(base + path, {"Accept-Encoding": "gzip"})
            assert status == 200
            assert headers.get("Content-Encoding") == "gzip"
            assert "max-age=315360000" in headers["Cache-Control"] and "immutable" in headers["Cache-Control"]
        status, headers, _ = http_get(f"{base}/static/vendor/pdfjs/build/pdf.worker.min.mjs")
        assert status == 200 and "max-age=3600" in headers["Cache-Control"]  # plain names: an hour


def test_the_vendored_thai_fonts_match_their_recorded_digests_and_carry_their_licence():
    from core.fonts import SARABUN_DIR, thai_font_path

    check = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=SARABUN_DIR, capture_output=True)
    assert check.returncode == 0, check.stdout
    listed = {line.split()[1] for line in (SARABUN_DIR / "SHA256SUMS").read_text().splitlines()}
    assert listed == {p.name for p in SARABUN_DIR.glob("*.ttf")}
    assert "SIL Open Font License" in (SARABUN_DIR / "OFL.txt").read_text()
    assert thai_font_path(weight="Bold").parent == SARABUN_DIR

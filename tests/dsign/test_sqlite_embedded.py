"""Issue 22: the embedded default (SQLite) runs in WAL mode with a busy timeout and IMMEDIATE
transactions, so readers never wait for the writer and writers queue instead of failing with
"database is locked"; signing no longer holds the write lock while it signs (tests/workflows)."""

from __future__ import annotations

import pytest
from django.db import connection


@pytest.mark.django_db
def test_sqlite_is_in_wal_mode_with_a_busy_timeout_and_immediate_transactions():
    if connection.vendor != "sqlite":
        pytest.skip("the embedded default only")
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cursor.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert cursor.execute("PRAGMA busy_timeout").fetchone()[0] >= 30_000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"

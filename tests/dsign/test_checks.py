"""Production mode refuses embedded defaults (system checks with stable ids); real secrets pass --deploy."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "HSM_", "DEBUG"))}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def test_production_with_default_secrets_fails_check_with_clear_messages():
    result = manage("check", DSIGN_PRODUCTION="true")
    assert result.returncode != 0
    for check_id, words in [
        ("dsign.E001", "SECRET_KEY is the embedded default"),
        ("dsign.E002", "HSM_CA_PIN is the embedded default PIN"),
        ("dsign.E002", "HSM_SERVICES_PIN is the embedded default PIN"),
        ("dsign.E004", "DSIGN_BASE_URL is a loopback address"),
    ]:
        assert check_id in result.stderr and words in result.stderr, result.stderr


def test_production_with_real_secrets_passes_check_deploy(tmp_path):
    pin_file = tmp_path / "hsm_pin"
    pin_file.write_text("a-real-token-pin\n")
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DSIGN_PRODUCTION="true",
        SECRET_KEY=secrets.token_urlsafe(50),
        HSM_CA_PIN_FILE=str(pin_file),
        HSM_SERVICES_PIN_FILE=str(pin_file),
        HSM_SO_PIN_FILE=str(pin_file),
        DSIGN_BASE_URL="https://sign.example.go.th",
        ALLOWED_HOSTS="sign.example.go.th",
        DATABASE_URL="postgres://dsign@db.invalid:5432/dsign",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_embedded_default_needs_no_variables_and_is_clean():
    result = manage("check")
    assert result.returncode == 0, result.stderr

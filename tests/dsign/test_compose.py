"""compose.yaml: its structure is checked (a schema of what dsign relies on, and `docker compose config` when a
Docker engine exists), and its start-up sequence runs here without Docker: secrets generated, Redis with a
password, the migrate service's script, the web and worker healthchecks as compose runs them, then /readyz."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest
import yaml

from bench.stack import database_drop, database_ensure, free_port
from tests.support.web import ROOT, http_json

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SETUP_STEPS = ["hsm_init", "migrate", "roles_sync", "ca_init", "register_schedules"]

_healthcheck = {
    "type": "object",
    "required": ["test", "interval", "retries"],
    "properties": {"test": {"type": "array", "minItems": 2, "items": {"type": "string"}}},
}
_service = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {"type": "string"},
        "command": {"type": "array", "items": {"type": "string"}},
        "environment": {"type": "object", "additionalProperties": {"type": "string"}},
        "volumes": {"type": "array", "items": {"type": "string"}},
        "depends_on": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["condition"],
                "properties": {
                    "condition": {"enum": ["service_started", "service_healthy", "service_completed_successfully"]}
                },
            },
        },
        "healthcheck": _healthcheck,
        "profiles": {"type": "array", "items": {"type": "string"}},
    },
}
SCHEMA = {
    "type": "object",
    "required": ["services", "volumes"],
    "properties": {
        "services": {
            "type": "object",
            "required": ["secrets", "db", "redis", "migrate", "web", "worker", "caddy"],
            "additionalProperties": _service,
            "properties": {name: {"required": ["healthcheck"]} for name in ("db", "redis", "web", "worker")},
        },
        "volumes": {"type": "object"},
    },
}


def _interpolate(value: str) -> str:
    """Compose's `${NAME:-default}` with nothing set in the environment, and `$$` for a literal `$`."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value).replace("$$", "$")


def _service_env(name: str) -> dict[str, str]:
    return {k: _interpolate(v) for k, v in COMPOSE["services"][name].get("environment", {}).items()}


def test_the_compose_file_has_the_structure_dsign_relies_on():
    jsonschema.validate(COMPOSE, SCHEMA)
    services = COMPOSE["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith(("/", ".")) or source in COMPOSE["volumes"], (name, volume)
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)

    db = _service_env("db")
    assert "POSTGRES_HOST_AUTH_METHOD" not in db and db["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert "--requirepass" in " ".join(services["redis"]["command"])
    assert "redis_password" in " ".join(services["redis"]["healthcheck"]["test"])
    assert services["migrate"]["command"] == ["bash", "scripts/setup-instance.sh"]
    script = (ROOT / "scripts" / "setup-instance.sh").read_text()
    positions = [script.index(f"manage.py {step}") for step in SETUP_STEPS]
    assert positions == sorted(positions)
    web_check = " ".join(services["web"]["healthcheck"]["test"])
    assert "/healthz" in web_check and "Host" in web_check
    assert services["worker"]["healthcheck"]["test"][1:] == ["python", "manage.py", "healthcheck", "--worker"]
    assert services["caddy"]["profiles"] == ["tls"]

    generated = set(re.search(r"for name in ([a-z_ ]+); do", (ROOT / "scripts/init-secrets.sh").read_text())[1].split())
    for name in ("web", "worker", "migrate", "signer", "db"):
        for key, value in _service_env(name).items():
            if key.endswith("_FILE") and value:
                folder = "/run/signer-secrets/" if key == "HSM_USERS_PIN_FILE" else "/run/secrets/"
                assert value.startswith(folder) and value.rsplit("/", 1)[1] in generated, (name, key)
    # Keys apart: only the signer and the set-up get the users' token PIN.
    for name in ("web", "worker"):
        assert "HSM_USERS_PIN_FILE" not in _service_env(name)
        assert not any("signer-secrets" in volume for volume in services[name]["volumes"])


@pytest.mark.skipif(
    subprocess.run(["docker", "info"], capture_output=True).returncode != 0 if shutil.which("docker") else True,
    reason="no Docker engine on this machine",
)
def test_docker_compose_accepts_the_file():
    result = subprocess.run(["docker", "compose", "config", "-q"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def _wait(check, *, what: str, attempts: int = 600):
    for _ in range(attempts):
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen")


@pytest.mark.slow
@pytest.mark.hsm
def test_the_compose_start_up_sequence_runs_without_docker(tmp_path):
    secrets_dir, state = tmp_path / "secrets", tmp_path / "state"
    made = subprocess.run(["sh", "scripts/init-secrets.sh", str(secrets_dir)], cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0 and "secret_key" in made.stdout
    assert (
        subprocess.run(["sh", "scripts/init-secrets.sh", str(secrets_dir)], cwd=ROOT, capture_output=True).returncode
        == 0
    )

    # redis: as its compose service starts it, with the generated password
    redis_port = free_port()
    password = (secrets_dir / "redis_password").read_text()
    redis = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--requirepass", password],
        stdout=subprocess.DEVNULL,
    )
    admin = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432")
    database_url = f"{admin}/dsign_compose_{secrets.token_hex(4)}"
    database_ensure(database_url)
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DSIGN_TEST", "DJANGO_LIVE"))}
    env.pop("HSM_USERS_PIN", None)  # the test run's own users' PIN: web and worker get none (keys apart)
    for name in ("SOFTHSM2_CONF", "Q_SYNC", "DATABASE_URL"):
        env.pop(name, None)
    env.update(_service_env("web"))  # the compose environment (its https:// base URL), then the local differences
    env.update(
        DSIGN_VAR_DIR=str(state),
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        **{k: str(secrets_dir / Path(v).name) for k, v in _service_env("web").items() if k.endswith("_FILE")},
    )
    processes = []
    try:
        # migrate: as compose runs it, with the users' token PIN that web and worker never get
        setup_env = dict(env, HSM_USERS_PIN_FILE=str(secrets_dir / "hsm_users_pin"))
        setup = subprocess.run(
            ["bash", "scripts/setup-instance.sh"], cwd=ROOT, env=setup_env, capture_output=True, text=True
        )
        assert setup.returncode == 0, setup.stderr[-3000:]
        count = "from django.contrib.auth.models import Group; print('PERMS', Group.objects.get(name='it_admin')"
        count += ".permissions.count())"
        permissions = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", count], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert int(permissions.stdout.split("PERMS")[1].split()[0]) > 0, permissions.stderr[-2000:]

        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "python:dsign.gunicorn_conf",
                    "dsign.wsgi:application",
                    "--bind",
                    f"127.0.0.1:{web_port}",
                    "--workers",
                    "1",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        web_check = COMPOSE["services"]["web"]["healthcheck"]["test"]
        web_check = [arg.replace("127.0.0.1:8000", f"127.0.0.1:{web_port}") for arg in web_check[1:]]
        web_check[0] = sys.executable
        _wait(
            lambda: subprocess.run(web_check, cwd=ROOT, env=env, capture_output=True).returncode == 0,
            what="web healthy",
        )

        worker_check = [sys.executable, *COMPOSE["services"]["worker"]["healthcheck"]["test"][2:]]
        assert subprocess.run(worker_check, cwd=ROOT, env=env, capture_output=True).returncode == 1  # no cluster yet
        processes.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        _wait(
            lambda: subprocess.run(worker_check, cwd=ROOT, env=env, capture_output=True).returncode == 0,
            what="worker healthy",
        )
        ready = _wait(
            lambda: (lambda r: r if r[0] == 200 else None)(http_json(f"http://127.0.0.1:{web_port}/readyz")),
            what="/readyz 200 (heartbeat seen)",
        )
        assert ready[1]["checks"]["broker"] == {"status": "ok", "kind": "redis"}
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, 15)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, 9)
                process.wait(timeout=30)
        redis.terminate()
        redis.wait(timeout=30)
        database_drop(database_url)

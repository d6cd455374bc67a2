"""Deployment files: the Procfile's commands really serve the API; railway.json, the Dockerfile, docker-compose.yml
and .dockerignore say what the README promises. Docker itself is not available here, so the image files are read."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from ragsite.database import embedded_server_running, embedded_server_stop
from tests.live import BASE_DIR, BIN, free_port, service_env


def procfile() -> dict[str, str]:
    processes = {}
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (BASE_DIR / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


@pytest.mark.slow
def test_the_procfile_release_then_web_commands_serve_health_on_port(tmp_path: Path):
    port = free_port()
    # As on a platform: `python` and `gunicorn` found on PATH, PORT chosen by the platform.
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    env = service_env(DATA_DIR=str(tmp_path), PORT=str(port), HOST="127.0.0.1", WORKERS="1", PATH=path)
    processes = procfile()
    assert set(processes) == {"release", "web"}

    release = subprocess.run(
        ["sh", "-c", processes["release"]], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=300
    )
    assert release.returncode == 0, release.stderr
    assert "Applying documents.0001_initial... OK" in release.stdout

    log = open(tmp_path / "web.log", "w+")  # noqa: SIM115 - closed in the finally below
    web = subprocess.Popen(["sh", "-c", f"exec {processes['web']}"], cwd=BASE_DIR, env=env, stdout=log, stderr=log)
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/health", web, log)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        assert health.json()["database"] == "ok"
        # The Docker HEALTHCHECK command, run against the same server.
        check = subprocess.run(
            [sys.executable, "-m", "ragsite.healthcheck"], cwd=BASE_DIR, env=env, capture_output=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
    finally:
        web.send_signal(signal.SIGTERM)
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()
        log.close()
        if embedded_server_running(pgdata=tmp_path / "postgres"):
            embedded_server_stop(pgdata=tmp_path / "postgres")
    assert web.returncode == 0


def test_the_health_check_fails_when_nothing_answers():
    check = subprocess.run(
        [sys.executable, "-m", "ragsite.healthcheck"],
        cwd=BASE_DIR,
        env=service_env(PORT=str(free_port())),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 1
    assert "ragsite health check failed" in check.stderr


def test_the_health_check_sends_a_host_django_accepts():
    from ragsite.healthcheck import health_host

    assert health_host("") == "localhost"
    assert health_host("*") == "localhost"
    assert health_host(" rag.example.com , 127.0.0.1") == "rag.example.com"
    assert health_host(".example.com") == "example.com"


def test_railway_runs_the_procfile_commands_and_checks_health():
    config = json.loads((BASE_DIR / "railway.json").read_text())
    processes = procfile()
    assert config["build"]["builder"] == "DOCKERFILE"
    assert config["deploy"]["preDeployCommand"] == [processes["release"]]
    assert config["deploy"]["startCommand"] == processes["web"]
    assert config["deploy"]["healthcheckPath"] == "/health"
    # Railway's SIGKILL must come after gunicorn's graceful timeout (REQUEST_TIMEOUT 60 + 5 by default).
    assert config["deploy"]["drainingSeconds"] > 65


def test_the_dockerfile_builds_a_small_non_root_image_that_migrates_under_the_lock():
    instructions = dockerfile_instructions()
    stages = [args for name, args in instructions if name == "FROM"]
    assert len(stages) >= 2
    assert all(stage.split()[0] == "python:3.11-slim" for stage in stages)

    final = instructions[max(i for i, (name, _) in enumerate(instructions) if name == "FROM") :]
    runs = " ".join(args for name, args in instructions if name == "RUN")
    assert "collectstatic" in " ".join(args for name, args in final if name == "RUN")
    # torch only from PyTorch's CPU index, pinned, and only with the build argument.
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in runs
    assert re.search(r'if \[ "\$LOCAL_MODEL" = "1" \]', runs)
    assert ("ARG", "LOCAL_MODEL=0") in instructions
    for name, args in final:
        if name == "RUN" and "pip install" in args:
            pytest.fail(f"the final stage installs packages: {args}")

    users = [args for name, args in final if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    healthcheck = next(args for name, args in final if name == "HEALTHCHECK")
    assert "ragsite.healthcheck" in healthcheck
    assert "curl" not in healthcheck

    command = json.loads(next(args for name, args in reversed(final) if name in ("CMD", "ENTRYPOINT")))
    shell = command[-1]
    assert shell.index("manage.py migrate_locked") < shell.index("exec gunicorn -c ragsite/gunicorn.conf.py")
    assert "manage.py migrate " not in shell


def test_requirements_never_pull_a_cuda_torch_into_the_image():
    runtime = (BASE_DIR / "requirements.txt").read_text()
    assert "torch" not in runtime
    local = (BASE_DIR / "requirements-local.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", local, re.MULTILINE)


def test_docker_compose_runs_the_app_on_pgvector_with_health_checks():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    db = compose["services"]["db"]
    app = compose["services"]["app"]
    assert db["image"].startswith("pgvector/pgvector:pg17")
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert app["environment"]["DB_URL"].startswith("postgresql://")
    assert "@db:5432/" in app["environment"]["DB_URL"]
    assert "ragsite.healthcheck" in " ".join(app["healthcheck"]["test"])
    assert app["build"]["context"] == "."


def test_dockerignore_keeps_local_state_out_of_the_image():
    ignored = {line.strip() for line in (BASE_DIR / ".dockerignore").read_text().splitlines() if line.strip()}
    for pattern in (".git", ".venv", ".data", "staticfiles", "**/__pycache__", ".pytest_cache", ".ruff_cache", ".env"):
        assert pattern in ignored
    assert any(pattern.startswith("tests") for pattern in ignored)
    assert any("pgdata" in pattern for pattern in ignored)


def _wait_for_health(url: str, process: subprocess.Popen, log) -> httpx.Response:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise AssertionError(f"the web process exited with {process.returncode}:\n{log.read()}")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    log.seek(0)
    raise AssertionError(f"/health did not answer 200 within 90 s:\n{log.read()}")


def test_procfile_commands_parse_as_plain_commands():
    for command in procfile().values():
        assert shlex.split(command)[0] in ("python", "gunicorn")

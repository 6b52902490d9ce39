"""Deployment files: docker-compose.yml validates and agrees with config.py and
.env.example; the Dockerfile keeps its promises; the README documents every variable.
(No Docker engine is needed: `docker-compose config` only reads the files.)"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import config
from tests.helpers import ROOT
from tests.helpers.envfile import env_example

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PROFILES = {"gpu": "syncdub-app", "cpu": "syncdub-app-cpu"}


def compose_config(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose is not installed (Debian: apt-get install docker-compose; "
                    ".ci/run installs it)")
    # A clean environment: only .env.example's values, none of this shell's.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/")}
    return subprocess.run([exe, "--env-file", str(ROOT / ".env.example"), "-f", str(COMPOSE),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_compose_config_is_valid_with_env_example():
    r = compose_config("config", "-q")
    assert r.returncode == 0, r.stderr
    assert "WARNING" not in r.stderr, r.stderr  # e.g. a variable without a default


@pytest.fixture(scope="module")
def resolved() -> dict:
    yaml = pytest.importorskip("yaml")
    r = compose_config("config")
    assert r.returncode == 0, r.stderr
    return yaml.safe_load(r.stdout)


def mount(v: str | dict) -> tuple[str, bool]:
    """(container path, read-only) from docker-compose 1.x's "src:dst:mode" or 2.x's dict."""
    if isinstance(v, dict):
        return v["target"], bool(v.get("read_only"))
    parts = v.split(":")
    return parts[1], parts[2:] == ["ro"]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_each_profile_is_the_one_container_with_limits_health_and_logs(resolved, profile):
    svc = resolved["services"][PROFILES[profile]]
    assert svc["profiles"] == [profile]
    assert svc["container_name"] == "syncdub-mvp"
    assert svc["build"]["args"]["VARIANT"] == ("cuda" if profile == "gpu" else "cpu")
    assert svc["ports"][0]["published"] in (5000, "5000") and svc["ports"][0]["target"] == 5000
    limits = svc["deploy"]["resources"]["limits"]
    assert (str(limits["memory"]), float(limits["cpus"])) == ("8G", 4.0)
    assert svc["deploy"]["resources"]["reservations"]["memory"] == "2G"
    assert svc["healthcheck"]["interval"] == "30s"
    assert "/api/health" in " ".join(svc["healthcheck"]["test"])
    assert svc["logging"] == {"driver": "json-file",
                              "options": {"max-size": "10m", "max-file": "3"}}
    assert list(svc["networks"]) == ["syncdub"]
    mounts = dict(mount(v) for v in svc["volumes"])  # container path -> read-only
    assert mounts == {"/app/uploads": False, "/app/output": False, "/app/models": False,
                      "/app/data": False, "/app/media": True}
    devices = svc["deploy"]["resources"]["reservations"].get("devices")
    if profile == "gpu":
        assert devices == [{"driver": "nvidia", "device_ids": ["all"], "capabilities": ["gpu"]}]
    else:
        assert devices is None


def test_scale_profile_is_valid_with_env_example():
    r = compose_config("--profile", "scale", "config", "-q")
    assert r.returncode == 0, r.stderr
    assert "WARNING" not in r.stderr, r.stderr


def test_scale_profile_is_redis_a_web_app_and_workers_on_the_same_volumes(resolved):
    """`docker compose --profile scale up --scale worker=4`: the official redis image,
    the web app queueing on it, workers from the same image; the storage shared."""
    svcs = resolved["services"]
    redis, web, worker = svcs["redis"], svcs["syncdub-web"], svcs["worker"]
    assert all(s["profiles"] == ["scale"] for s in (redis, web, worker))
    assert redis["image"] == "redis:7" and "--appendonly" in redis["command"]
    assert web["image"] == worker["image"] == "syncdub:cpu"
    for svc in (web, worker):
        assert svc["environment"]["QUEUE_URL"] == "redis://redis:6379/0"
        assert "redis" in svc["depends_on"]
        env = {k: str(v) for k, v in svc["environment"].items() if v is not None}
        assert config.load_settings(env).queue_url == "redis://redis:6379/0"
    assert worker["command"] == ["./start.sh", "worker"]
    assert "container_name" not in worker and "ports" not in worker   # --scale worker=N
    assert web["ports"][0]["target"] == 5000 and "/api/health" in " ".join(
        web["healthcheck"]["test"])
    assert dict(mount(v) for v in worker["volumes"]) == dict(mount(v) for v in web["volumes"])
    assert {mount(v)[0] for v in web["volumes"]} >= {"/app/uploads", "/app/output",
                                                    "/app/media"}


def test_container_environment_passes_every_variable_and_config_accepts_it(resolved):
    env = resolved["services"]["syncdub-app"]["environment"]
    assert sorted(set(config.VARIABLES) - set(env)) == [], "config reads it; compose drops it"
    # Inside the container, the values compose gives (with .env.example) are valid, and
    # the folders are the mounted ones.
    s = config.load_settings({k: str(v) for k, v in env.items() if v is not None})
    assert (s.app_port, s.engine.models_dir, s.uploads_dir, s.data_dir, s.log_dir) == (
        5000, Path("/app/models"), Path("/app/uploads"), Path("/app/data"), None)
    assert s.media_source_path == Path("/app/media")


def test_compose_defaults_match_env_example():
    # ${VAR:-default} in the compose file must say what .env.example (= config) says.
    defaults = re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", COMPOSE.read_text())
    assert defaults
    example = env_example()
    for var, default in defaults:
        assert var in config.VARIABLES, var
        assert default == example[var], (var, default, example[var])


def test_dockerfile_promises():
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms[0].startswith("python:3.11-slim")
    assert "apt-get install" in text and "ffmpeg" in text
    assert "./start.sh setup" in text            # pinned requirements, as natively
    assert re.search(r"^USER \$\{PUID\}:\$\{PGID\}", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*/api/health", text, re.M)
    assert re.search(r'^CMD \["\./start\.sh", "serve"\]', text, re.M)
    assert "ARG VARIANT=cpu" in text and "FROM libs-${VARIANT}" in text
    assert "FROM base AS libs-cuda" in text and "nvidia-cublas-cu12==" in text


def test_dockerfile_joins_the_model_with_the_engine_code():
    # The build calls this function: it must exist and use the folder name the engine loads.
    from app.services import transcribe
    assert "ensure_bundled_model(Path('/app/models'))" in DOCKERFILE.read_text()
    assert callable(transcribe.ensure_bundled_model)
    assert transcribe.BUNDLED_DIR_NAME == "whisper-base-ct2"


def test_dockerignore_keeps_secrets_and_local_state_out():
    ignored = set(ROOT.joinpath(".dockerignore").read_text().split())
    assert {".env", ".git", ".venv", "uploads", "output", "models", "data"} <= ignored


def test_start_sh_parses():
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    r = subprocess.run([bash, "-n", str(ROOT / "start.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_readme_configuration_table_lists_every_variable():
    readme = ROOT.joinpath("README.md").read_text()
    section = readme.split("<!-- section:deploy -->")[1].split("<!-- /section:deploy -->")[0]
    rows = set(re.findall(r"^\| `([A-Z_]+)` \|", section, re.M))
    assert sorted(set(config.VARIABLES) - rows) == []
    assert sorted(rows - set(config.VARIABLES)) == []

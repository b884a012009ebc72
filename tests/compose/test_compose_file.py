"""compose/docker-compose.yml, its Dockerfile, env example and Prometheus config agree with
each other and with the project.

No Docker engine is needed. The YAML checks always run. `docker compose config` (Compose's
own parser and validator) runs too when a Compose v2 is found: the docker CLI plugin, or the
standalone binary tests/scripts/ensure-tools.sh installs for `make test`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.compose import COMPOSE, COMPOSE_FILE, ENV_EXAMPLE, env_example
from tests.support.processes import REPO

WORKERS = {"worker-interactive": "interactive", "worker-batch": "batch", "worker-media": "media"}
SERVICES = {"redis", "litellm", "gateway", "edge", "prometheus", "grafana", *WORKERS}
# What `docker compose up --scale NAME=N` may scale with no other change.
SCALED = ("gateway", *WORKERS)
REQUIRED_SECRETS = {
    "MPC_ARTIFACTS_SIGNING_KEY",
    "MPC_API_KEYS",
    "LITELLM_MASTER_KEY",
    "MPC_LITELLM_API_KEY",
    "GRAFANA_ADMIN_PASSWORD",
}
COMPROMISED_LITELLM = ("1.82.7", "1.82.8")
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def strings(node: Any) -> list[str]:
    """Every string value in a loaded YAML document (so comments never count)."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


def litellm_env_refs() -> set[str]:
    """Every os.environ/<NAME> value in compose/litellm/config.yaml."""
    config = yaml.safe_load((COMPOSE / "litellm" / "config.yaml").read_text())
    return {s.removeprefix("os.environ/") for s in strings(config) if s.startswith("os.environ/")}


def test_services_have_an_image_or_build_a_healthcheck_and_a_restart_policy() -> None:
    found = services()
    assert set(found) == SERVICES
    for name, service in found.items():
        assert "image" in service or "build" in service, name
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
        assert service.get("restart") == "unless-stopped", name
        for key in ("interval", "timeout", "retries", "start_period"):
            assert key in service["healthcheck"], f"{name} healthcheck has no {key}"


def test_images_are_pinned() -> None:
    for name, service in services().items():
        image = service["image"]
        if "build" in service:
            assert image == "mpc-api:local", name
            continue
        assert "@sha256:" in image or re.search(r":v?\d+\.\d+\.\d+$", image), f"{name}: {image} is not pinned"
        assert not image.endswith((":latest", "-latest", "-stable")), name


def test_litellm_image_is_the_pinned_proxy_version() -> None:
    image = services()["litellm"]["image"]
    pinned = re.search(r"litellm\[proxy\]==([\d.]+)", (COMPOSE / "litellm" / "requirements.in").read_text())
    assert pinned, "compose/litellm/requirements.in pins no litellm[proxy] version"
    version = pinned.group(1)
    assert version not in COMPROMISED_LITELLM
    assert re.fullmatch(rf"ghcr\.io/berriai/litellm:v{re.escape(version)}(@sha256:[0-9a-f]{{64}})?", image), (
        f"litellm image {image} should be ghcr.io/berriai/litellm:v{version}[@sha256:...], the version install.sh pins"
    )
    litellm = services()["litellm"]
    assert "./litellm/config.yaml:/app/config.yaml:ro" in litellm["volumes"]
    assert litellm["command"][:2] == ["--config", "/app/config.yaml"]
    env = litellm["environment"]
    for name, value in {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_MODE": "PRODUCTION",
        "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    }.items():
        assert env[name] == value
    assert "liveliness" in " ".join(litellm["healthcheck"]["test"])


def test_workers_scale_one_service_per_queue_class() -> None:
    found = services()
    for name, queue in WORKERS.items():
        worker = found[name]
        assert "container_name" not in worker and "ports" not in worker, f"{name} could not be scaled"
        assert worker["command"][-2:] == ["--queue", queue]
        env = worker["environment"]
        assert env["MPC_WORKER_METRICS_PORT"] == "9101" and env["MPC_HOST"] == "0.0.0.0"
        assert env["MPC_REDIS_URL"] == "redis://redis:6379/0"
        assert env["MPC_LITELLM_BASE_URL"] == "http://litellm:4000"
        assert "9101" in " ".join(worker["healthcheck"]["test"])
        assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    gateway = found["gateway"]
    assert gateway["command"] == ["mpc-api", "serve"]
    assert gateway["environment"]["MPC_HOST"] == "0.0.0.0" and gateway["environment"]["MPC_PORT"] == "3000"
    assert "/health/live" in " ".join(gateway["healthcheck"]["test"])


def test_redis_persists_and_never_evicts() -> None:
    redis = services()["redis"]
    command = redis["command"]
    assert redis["image"].startswith("redis:7.")
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    assert set(compose()["volumes"]) >= {"redis-data", "prometheus-data", "grafana-data"}


def test_gateway_cannot_reach_litellm() -> None:
    """Only workers talk to LiteLLM (docs/architecture.md). Networks make that structural."""
    found = services()
    assert not set(found["gateway"]["networks"]) & set(found["litellm"]["networks"])
    for name in WORKERS:
        assert set(found["litellm"]["networks"]) <= set(found[name]["networks"])
        assert set(found["redis"]["networks"]) <= set(found[name]["networks"])


def test_secrets_come_from_the_git_ignored_env_file() -> None:
    found = [m for value in strings(compose()) for m in _INTERPOLATION.finditer(value)]
    referenced = {m.group(1) for m in found}
    example = env_example()
    assert referenced <= set(example), f"not documented in .env.example: {sorted(referenced - set(example))}"
    required = {m.group(1) for m in found if m.group(2) == ":?"}
    assert required == REQUIRED_SECRETS
    # Secrets are never literals in the compose file, and each service gets only its own.
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"KEY|PASSWORD|SECRET|TOKEN", key) and value:
                assert _INTERPOLATION.fullmatch(str(value)), f"{name}.{key} must come from compose/.env"
    gateway_env = set(services()["gateway"]["environment"])
    assert not {k for k in gateway_env if "LITELLM" in k or k.endswith("_API_KEY")}, "provider secrets in the gateway"
    for name in WORKERS:
        assert services()[name]["environment"]["MPC_LITELLM_API_KEY"].startswith("${MPC_LITELLM_API_KEY")
    gitignore = (REPO / ".gitignore").read_text().split()
    assert "compose/.env" in gitignore


def test_litellm_gets_every_provider_key_its_config_names() -> None:
    refs = litellm_env_refs()
    assert "OPENAI_API_KEY" in refs and "LITELLM_MASTER_KEY" in refs
    env = services()["litellm"]["environment"]
    assert refs <= set(env), f"LiteLLM config needs {sorted(refs - set(env))}"
    assert refs <= set(env_example()), f".env.example lacks {sorted(refs - set(env_example()))}"
    for name in refs:
        assert env[name] == f"${{{name}:-}}" or env[name].startswith(f"${{{name}:?"), name


def test_env_example_holds_placeholders_only() -> None:
    example = env_example()
    assert example["MPC_LITELLM_API_KEY"] == "${LITELLM_MASTER_KEY}"
    assert example["LITELLM_MASTER_KEY"].startswith("sk-")
    for name in REQUIRED_SECRETS - {"MPC_LITELLM_API_KEY"}:
        assert "replace" in example[name], name
    for name in litellm_env_refs() - {"LITELLM_MASTER_KEY"}:
        assert example[name] == "", f"{name} should be empty in the example"
    for key in example["MPC_API_KEYS"].split(","):
        assert len(key) >= 16  # what queues.settings requires of a client key


def test_dockerfile_builds_every_package_the_project_installs() -> None:
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11[\w.-]*-slim", dockerfile, re.M)
    assert "pip install -c constraints.txt ." in dockerfile
    assert re.search(r"^USER (?!root)", dockerfile, re.M)
    pyproject = (REPO / "pyproject.toml").read_text()
    include = re.search(r"include = \[([^\]]*)\]", pyproject.split("[tool.setuptools.packages.find]")[1])
    assert include
    packages = {name.strip(' "*') for name in include.group(1).split(",")}
    ignore = (COMPOSE / "Dockerfile.dockerignore").read_text().split()
    for package in packages:
        assert re.search(rf"^COPY {package} \./{package}$", dockerfile, re.M), f"Dockerfile does not copy {package}/"
        assert f"!{package}/" in ignore
    for file in ("cli.py", "pyproject.toml", "constraints.txt"):
        assert file in dockerfile and f"!{file}" in ignore


def test_mounted_files_exist() -> None:
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE / source).exists(), f"{name} mounts missing {source}"


def test_prometheus_scrapes_the_services_compose_defines() -> None:
    config = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    (gateways,) = jobs["mpc-gateway"]["dns_sd_configs"]
    assert gateways["names"] == ["gateway"] and gateways["type"] == "A" and str(gateways["port"]) == "3000"
    (dns,) = jobs["mpc-worker"]["dns_sd_configs"]
    assert sorted(dns["names"]) == sorted(WORKERS) and dns["type"] == "A"
    assert not any(name.startswith("tasks.") for name in dns["names"])
    assert str(dns["port"]) == services()["worker-media"]["environment"]["MPC_WORKER_METRICS_PORT"]
    prometheus = services()["prometheus"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert set(prometheus["networks"]) & set(services()["gateway"]["networks"])


def compose_command() -> list[str] | None:
    """A Docker Compose v2 to run `config` with: the docker CLI plugin, else the pinned standalone binary."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=20).returncode == 0:
        return [docker, "compose"]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    tools = Path(os.environ.get("MPC_TOOLS_DIR", cache / "mpc-api" / "tools"))
    for candidate in (tools / "docker-compose", shutil.which("docker-compose")):
        if candidate and os.access(candidate, os.X_OK):
            version = subprocess.run([str(candidate), "version"], capture_output=True, text=True, timeout=20).stdout
            if re.search(r"\bv?2\.\d+", version):
                return [str(candidate)]
    return None


@pytest.fixture
def compose_dir(tmp_path: Path) -> Path:
    """A copy of compose/ whose .env is the example (never the developer's real compose/.env)."""
    target = tmp_path / "compose"
    shutil.copytree(COMPOSE, target, ignore=shutil.ignore_patterns(".env"))
    return target


def test_docker_compose_config_accepts_the_stack(compose_dir: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2 here (tests/scripts/ensure-tools.sh installs one)")
    compose_file = str(compose_dir / "docker-compose.yml")

    # Without compose/.env, the required secrets stop Compose with a message naming one.
    missing = subprocess.run([*command, "-f", compose_file, "config", "-q"], capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "compose/.env" in missing.stderr

    # With compose/.env (here, the example) next to the file, run from another directory.
    shutil.copy(ENV_EXAMPLE, compose_dir / ".env")
    result = subprocess.run(
        [*command, "-f", compose_file, "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=compose_dir.parent.parent,
    )
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    found = model["services"]
    assert set(found) == SERVICES
    example = env_example()
    assert found["gateway"]["environment"]["MPC_API_KEYS"] == example["MPC_API_KEYS"]
    master = found["litellm"]["environment"]["LITELLM_MASTER_KEY"]
    assert master == example["LITELLM_MASTER_KEY"]
    for name in WORKERS:
        assert found[name]["environment"]["MPC_LITELLM_API_KEY"] == master
        assert "container_name" not in found[name] and not found[name].get("ports")
    assert found["gateway"]["build"]["context"] == str(compose_dir.parent)
    assert found["gateway"]["build"]["dockerfile"] == "compose/Dockerfile"
    assert all(service.get("healthcheck", {}).get("test") for service in found.values())
    published = {port["target"]: port for port in found["edge"]["ports"]}
    assert published[3000]["host_ip"] == "127.0.0.1"

    # Scaled as `--scale` scales them (Compose refuses a scale it cannot run, such as one
    # with a fixed container name).
    override = compose_dir / "scaled.yml"
    override.write_text(yaml.safe_dump({"services": {name: {"scale": 3} for name in SCALED}}))
    scaled = subprocess.run(
        [*command, "-f", compose_file, "-f", str(override), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert scaled.returncode == 0, scaled.stderr
    assert {name: json.loads(scaled.stdout)["services"][name]["scale"] for name in SCALED} == dict.fromkeys(SCALED, 3)


def test_gateways_and_workers_scale_with_no_other_change() -> None:
    """No fixed name or host port on a scaled service, and everything that reaches one finds
    every replica through Docker's DNS: clients through `edge`, Prometheus through A records."""
    found = services()
    for name in SCALED:
        assert "container_name" not in found[name] and "ports" not in found[name], f"{name} could not be scaled"
        assert "hostname" not in found[name], name
    publishing = {name for name, service in found.items() if service.get("ports")}
    assert publishing == {"edge", "prometheus", "grafana"}
    haproxy = (COMPOSE / "haproxy" / "haproxy.cfg").read_text()
    port = found["gateway"]["environment"]["MPC_PORT"]
    assert re.search(rf"^\s*server-template gateway \d+ gateway:{port}$", haproxy, re.M)
    assert re.search(r"resolvers docker", haproxy) and "127.0.0.11:53" in haproxy
    assert re.search(r"option httpchk GET /health/live", haproxy)
    edge = found["edge"]
    assert "./haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in edge["volumes"]
    assert edge["depends_on"]["gateway"]["condition"] == "service_healthy"
    assert set(edge["networks"]) & set(found["gateway"]["networks"])
    config = yaml.safe_load((COMPOSE / "prometheus" / "prometheus.yml").read_text())
    discovered = {
        name for job in config["scrape_configs"] for sd in job.get("dns_sd_configs", []) for name in sd["names"]
    }
    assert discovered == set(SCALED)


def test_gateway_and_workers_share_the_artifact_store() -> None:
    """Workers write artifacts, the gateway serves them: one volume, one store URL."""
    found = services()
    url = found["gateway"]["environment"]["MPC_ARTIFACTS_URL"]
    mount = f"artifacts:{url.removeprefix('file://')}"
    for name in ("gateway", *WORKERS):
        assert found[name]["environment"]["MPC_ARTIFACTS_URL"] == url, name
        assert mount in found[name]["volumes"], name
    assert "artifacts" in compose()["volumes"]

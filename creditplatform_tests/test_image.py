"""The image and the scoring service's cluster config, checked without a Docker engine or a
cluster (``make lint`` also validates the manifests against the Kubernetes schemas and the
Dockerfile with hadolint): what each role runs, who it runs as, how the commit gets in, and
that the probes, the Secret, the autoscaler and the network policy all name the same pod."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from creditplatform.provenance import STAMP
from creditplatform.settings import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()
ENTRYPOINT = REPO_ROOT / "deploy" / "docker" / "entrypoint.sh"
HEALTHCHECK = REPO_ROOT / "deploy" / "docker" / "healthcheck.sh"


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split by ``FROM``."""
    text = DOCKERFILE.replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]
    stages: list[list[str]] = []
    for line in lines:
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_two_stages_a_stamped_commit_and_a_non_root_runtime():
    build, runtime = _stages()
    assert any("UV_COMPILE_BYTECODE=1" in line for line in build)
    assert "RUN uv sync --frozen --no-dev" in build  # the locked set, no dev tools
    stamp = STAMP.relative_to(REPO_ROOT).as_posix()
    assert any(line.startswith("ARG GIT_COMMIT") for line in build)
    assert any("${GIT_COMMIT}" in line and line.endswith(f"> {stamp}") for line in build)
    assert not any(line.startswith(("RUN pip", "RUN uv")) for line in runtime)
    (user,) = [line for line in runtime if line.startswith("USER ")]
    assert user.split()[1].split(":")[0] not in ("0", "root")
    assert any("HEALTHCHECK" in line and str(HEALTHCHECK.relative_to(REPO_ROOT)) in line
               for line in runtime)  # fmt: skip
    assert f'ENTRYPOINT ["/app/{ENTRYPOINT.relative_to(REPO_ROOT).as_posix()}"]' in runtime
    assert "DAGSTER_HOME=/app/deploy/production" in " ".join(runtime)  # pragma: allowlist secret
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:1] == ["*"] and "creditplatform/BUILD_COMMIT" in ignored


def test_an_unknown_role_runs_as_given():
    """What the run launcher and the Helm chart rely on: their own commands pass through."""
    done = subprocess.run([str(ENTRYPOINT), "sh", "-c", "echo passed through $0", "x"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stdout.strip() == "passed through x"


def test_the_code_server_role_serves_and_the_healthcheck_sees_it(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "CREDITPLATFORM_DATA_DIR": str(tmp_path / "data")}  # fmt: skip
    assert subprocess.run([str(HEALTHCHECK)], env=env, capture_output=True).returncode != 0
    server = subprocess.Popen([str(ENTRYPOINT), "code-server"], env=env, cwd=REPO_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # a loaded machine imports the code location slowly
        while subprocess.run([str(HEALTHCHECK)], env=env, capture_output=True).returncode:
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(2)
    finally:
        server.terminate()
        try:  # Dagster's code server shuts its gRPC child down gracefully, slowly when loaded
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:  # what a container runtime does after its grace period
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_the_scoring_deployment_is_probed_limited_locked_down_and_keyed():
    docs = {d["kind"]: d for d in yaml.safe_load_all((REPO_ROOT / "deploy" / "kubernetes" /
                                                       "scoring.yaml").read_text())}  # fmt: skip
    deployment = docs["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"] == ["serve"]
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    env = {e["name"]: e.get("value") for e in container["env"]}
    keys_file = Path(env["CREDITPLATFORM_SERVE_API_KEYS_FILE"])
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    (keys,) = [n for n, m in mounts.items() if m["mountPath"] == str(keys_file.parent)]
    assert mounts[keys]["readOnly"] and volumes[keys]["secret"]["secretName"]
    assert "/tmp" in {m["mountPath"] for m in mounts.values()}  # the one writable place
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert docs["Service"]["spec"]["selector"] == labels
    assert docs["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"] == labels
    target = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    port = container["ports"][0]["containerPort"]
    assert port in {p["port"] for rule in docs["NetworkPolicy"]["spec"]["ingress"]
                    for p in rule["ports"]}  # fmt: skip

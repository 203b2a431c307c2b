"""The deployment files an operator relies on: docker-compose.yml, the HAProxy config in front of it, and the
Kubernetes manifests in deploy/kubernetes/. Validated offline (bundled schemas) and checked against the code:
the drain, the readiness endpoint, one beat, commands that exist, a scaling metric that /metrics exports."""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.core.management import get_commands

from calls.api import tokens

from .calls.conftest import make_call

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
HAPROXY_CFG = ROOT / "deploy" / "proxy" / "haproxy.cfg"
KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest version still widely run; the manifests use nothing newer

MANIFEST_FILES = sorted(KUBE.glob("*.yaml")) + sorted(KUBE.glob("examples/*.yaml"))
DOCUMENTS = [(path, doc) for path in MANIFEST_FILES for doc in yaml.safe_load_all(path.read_text()) if doc]


def default_drain_seconds() -> float:
    """DRAIN_SECONDS's default as contactcenter/settings.py has it (the test environment may override it)."""
    source = (ROOT / "contactcenter" / "settings.py").read_text()
    match = re.search(
        r'DRAIN_SECONDS = float\(os\.environ\.get\("DRAIN_SECONDS", "(\d+(?:\.\d+)?)"\)\)', source
    )
    assert match, "DRAIN_SECONDS default not found in contactcenter/settings.py"
    return float(match.group(1))


def seconds(text: str | int) -> float:
    """'630s', '2h', '10m', 630 -> seconds (compose durations and HAProxy timeouts)."""
    if isinstance(text, int | float):
        return float(text)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|)", text.strip()):
        total += float(number) * units[unit]
    return total


def resource(kind: str, name: str) -> dict:
    found = [doc for _, doc in DOCUMENTS if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} in deploy/kubernetes"
    return found[0]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def haproxy_sections() -> dict[str, list[str]]:
    """'defaults', 'frontend public', 'backend web', ... -> their directive lines, comments dropped."""
    sections: dict[str, list[str]] = {}
    current = None
    for raw in HAPROXY_CFG.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if not line[0].isspace():
            current = line.strip()
            sections[current] = []
        elif current is not None:
            sections[current].append(line.strip())
    return sections


def assert_command_exists(command: list[str]) -> None:
    """What a container runs is a module, management command or Celery app of this code base."""
    if command[:2] == ["python", "-m"]:
        assert importlib.util.find_spec(command[2]), f"no module {command[2]}"
        app = command[-1]
        if ":" in app:
            module, attr = app.split(":")
            assert hasattr(importlib.import_module(module), attr), f"no {app}"
    elif command[:2] == ["python", "manage.py"]:
        assert command[2] in get_commands(), f"no management command {command[2]}"
    elif command[0] == "celery":
        app = command[command.index("-A") + 1]
        assert importlib.util.find_spec(f"{app}.celery"), f"no Celery app in {app}"
        assert command[command.index("-A") + 2] in ("worker", "beat")
    else:
        pytest.fail(f"unexpected command {command}")


# --- Kubernetes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    DOCUMENTS,
    ids=[f"{p.relative_to(KUBE)}:{d['kind']}/{d['metadata']['name']}" for p, d in DOCUMENTS],
)
def test_every_manifest_is_valid_against_the_kubernetes_schema(document):
    path, doc = document
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{path.name}: {exc.message}")


def test_the_manifests_hold_every_process():
    kinds = {(doc["kind"], doc["metadata"]["name"]) for _, doc in DOCUMENTS}
    for name in ("web", "media", "sip", "worker", "beat"):
        assert ("Deployment", name) in kinds
    assert {("Service", "web"), ("Job", "migrate"), ("HorizontalPodAutoscaler", "web")} <= kinds
    assert ("Ingress", "contactcenter") in kinds and ("ConfigMap", "contactcenter-config") in kinds


def test_web_routes_on_ready_restarts_on_health_and_outlives_the_drain():
    spec = pod_spec(resource("Deployment", "web"))
    (container,) = spec["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    pause = 0
    if "lifecycle" in container:
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep"
        pause = float(command[1])
    drain = default_drain_seconds()
    assert spec["terminationGracePeriodSeconds"] >= pause + drain + 10
    configured = resource("ConfigMap", "contactcenter-config")["data"].get("DRAIN_SECONDS")
    if configured is not None:
        assert spec["terminationGracePeriodSeconds"] >= pause + float(configured) + 10
    strategy = resource("Deployment", "web")["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


def test_probes_send_a_host_the_app_allows():
    allowed = resource("ConfigMap", "contactcenter-config")["data"]["ALLOWED_HOSTS"].split(",")
    (container,) = pod_spec(resource("Deployment", "web"))["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        headers = {h["name"]: h["value"] for h in container[probe]["httpGet"]["httpHeaders"]}
        assert headers["Host"] in allowed
        assert headers["X-Forwarded-Proto"] == "https"  # no SECURE_SSL_REDIRECT 301 (a kubelet success)


def test_one_beat_one_media_one_sip_and_no_overlap_on_rollout():
    for name in ("beat", "media", "sip"):
        deployment = resource("Deployment", name)
        assert deployment["spec"]["replicas"] == 1, name
        assert deployment["spec"]["strategy"]["type"] == "Recreate", name
    for name in ("media", "sip"):
        assert (
            pod_spec(resource("Deployment", name))["terminationGracePeriodSeconds"] >= default_drain_seconds()
        )


def test_media_and_sip_have_their_rtp_port_ranges():
    env = {e["name"]: e for c in pod_spec(resource("Deployment", "media"))["containers"] for e in c["env"]}
    assert re.fullmatch(r"\d+-\d+", env["RTP_PORT_RANGE"]["value"])
    assert "MEDIA_ADVERTISE_HOST" in env
    env = {e["name"]: e for c in pod_spec(resource("Deployment", "sip"))["containers"] for e in c["env"]}
    assert re.fullmatch(r"\d+-\d+", env["SIP_RTP_PORT_RANGE"]["value"])


def test_every_container_runs_a_command_that_exists():
    for _, doc in DOCUMENTS:
        if doc["kind"] in ("Deployment", "Job"):
            for container in pod_spec(doc)["containers"]:
                assert_command_exists(container["command"])


def test_the_secret_example_holds_placeholders_only():
    (secret,) = [doc for _, doc in DOCUMENTS if doc["kind"] == "Secret"]
    for key, value in secret["stringData"].items():
        assert value == f"${{{key}}}", key
    assert not [doc for path, doc in DOCUMENTS if doc["kind"] == "Secret" and path.parent == KUBE]


@pytest.mark.django_db
def test_the_autoscaler_scales_web_on_a_gauge_metrics_exports(client, staff_user, agent):
    hpa = resource("HorizontalPodAutoscaler", "web")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert hpa["spec"]["minReplicas"] >= 2
    assert "replicas" not in resource("Deployment", "web")["spec"]  # an apply would undo the autoscaler
    (metric,) = hpa["spec"]["metrics"]
    name = metric["external"]["metric"]["name"]
    labels = metric["external"]["metric"]["selector"]["matchLabels"]
    make_call(agent=agent, carrier="twilio", status="in_progress", transcript=False)
    make_call(agent=agent, carrier="plivo", status="completed", transcript=False)
    token = tokens.mint("prometheus", created_by=staff_user)[1]
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    text = response.content.decode()
    assert f"# TYPE {name} gauge" in text
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    assert f"{name}{{{label_text}}} 1" in text.splitlines()


# --- docker compose and the proxy -------------------------------------------------------------------------


def test_compose_is_valid_against_the_compose_spec():
    schema_file = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors


def test_compose_services_run_commands_that_exist():
    ours = {name: service for name, service in compose()["services"].items() if service.get("build") == "."}
    assert set(ours) == {"migrate", "web", "worker", "beat", "media", "sip"}
    for service in ours.values():
        assert_command_exists(service["command"])


def test_compose_web_drains_and_is_reached_through_the_proxy_only():
    services = compose()["services"]
    web = services["web"]
    assert seconds(web["stop_grace_period"]) >= default_drain_seconds() + 10
    assert "/ready" in " ".join(web["healthcheck"]["test"])
    assert "ports" not in web
    for name in ("media", "sip"):
        assert seconds(services[name]["stop_grace_period"]) >= default_drain_seconds()
    proxy = services["proxy"]
    assert any(str(port).startswith("443:") for port in proxy["ports"])
    mounts = [volume.rsplit(":", 2) for volume in proxy["volumes"]]  # source may be ${VAR:-default}
    assert ["./deploy/proxy/haproxy.cfg", "/usr/local/etc/haproxy/haproxy.cfg", "ro"] in mounts
    assert any(target == "/etc/haproxy/certs" for _, target, _ in mounts)


def test_the_proxy_routes_to_web_on_ready_and_keeps_websockets_for_a_call():
    sections = haproxy_sections()
    (frontend,) = [lines for name, lines in sections.items() if name.startswith("frontend")]
    assert any(re.match(r"bind \S*:443 ssl crt /etc/haproxy/certs/?", line) for line in frontend)
    assert "option forwardfor" in frontend
    assert any("X-Forwarded-Proto" in line for line in frontend)
    (backend_name,) = [line.split()[1] for line in frontend if line.startswith("default_backend")]
    backend = sections[f"backend {backend_name}"]
    servers = [line for line in backend if line.startswith(("server ", "server-template "))]
    assert servers and all(" web:8000" in line for line in servers)
    assert "option httpchk" in backend
    assert any(re.match(r"http-check send meth GET uri /ready\b", line) for line in backend)
    assert "http-check expect status 200" in backend
    assert any(
        re.search(r"\bcheck\b", line) for line in backend if line.startswith(("default-server", "server"))
    )
    tunnel = [line.split()[2] for line in sections["defaults"] + backend if line.startswith("timeout tunnel")]
    assert tunnel and seconds(tunnel[-1]) >= 3600


@pytest.mark.skipif(not (shutil.which("haproxy") and shutil.which("openssl")), reason="haproxy not installed")
def test_haproxy_accepts_the_config(tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (certs / "localhost.pem").write_text(
        (tmp_path / "cert.pem").read_text() + (tmp_path / "key.pem").read_text()
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(HAPROXY_CFG.read_text().replace("/etc/haproxy/certs/", f"{certs}/"))
    result = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

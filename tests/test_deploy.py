"""The deployment files an operator relies on: docker-compose.yml, the HAProxy config in front of it, and the
Kubernetes manifests in deploy/kubernetes/. Validated offline (bundled schemas) and checked against the code:
the drain, the readiness endpoint, one beat, commands that exist, a scaling metric that /metrics exports, and
the carriers' media WebSockets going to `streams` (uvicorn) while everything else goes to `web` (daphne)."""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import jsonschema
import kubernetes_validate
import pytest
import uvicorn
import yaml
from django.core.management import get_commands

from calls.api import tokens
from contactcenter import streams
from contactcenter.routing import websocket_urlpatterns
from telephony.plivo.urls import ws_routes as plivo_ws
from telephony.twilio.urls import ws_routes as twilio_ws

from .calls.conftest import make_call

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
HAPROXY_CFG = ROOT / "deploy" / "proxy" / "haproxy.cfg"
KUBE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest version still widely run; the manifests use nothing newer

MANIFEST_FILES = sorted(KUBE.glob("*.yaml")) + sorted(KUBE.glob("examples/*.yaml"))
DOCUMENTS = [(path, doc) for path in MANIFEST_FILES for doc in yaml.safe_load_all(path.read_text()) if doc]


# The paths the proxy and the ingress must send to `streams`: the carriers' media WebSockets, as routed in code.
CARRIER_MEDIA_PATHS = {f"/{route.pattern}" for route in [*twilio_ws, *plivo_ws]}


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


def streams_config(command: list[str]) -> uvicorn.Config:
    """The uvicorn settings `python -m contactcenter.streams ARGS` would serve with (its own argument parser;
    the server is not started)."""
    assert command[:3] == ["python", "-m", "contactcenter.streams"], command
    with mock.patch.object(streams.DrainingServer, "run", autospec=True) as run:
        try:
            streams.main(command[3:])
        except SystemExit as exc:  # argparse refused the arguments
            pytest.fail(f"contactcenter.streams rejects {command[3:]}: exit {exc.code}")
    (server,), _ = run.call_args
    return server.config


def backend_paths(frontend: list[str]) -> dict[str, set[str]]:
    """HAProxy frontend lines -> {backend: the path prefixes its `use_backend ... if` conditions match}. Named
    `acl NAME path_beg ...` and inline `{ path_beg ... }` conditions; any other condition fails the test."""
    acls: dict[str, set[str]] = {}
    for line in frontend:
        if line.startswith("acl "):
            _, name, fetch, *values = line.split()
            assert fetch == "path_beg", f"unexpected ACL {line!r}"
            acls.setdefault(name, set()).update(values)
    routed: dict[str, set[str]] = {}
    for line in frontend:
        if not line.startswith("use_backend "):
            continue
        _, backend, keyword, *condition = line.split()
        assert keyword == "if", f"unexpected {line!r}"
        paths = routed.setdefault(backend, set())
        words = iter(condition)
        for token in words:
            if token in ("||", "or"):
                continue
            if token == "{":
                inline = []
                for word in words:
                    if word == "}":
                        break
                    inline.append(word)
                assert inline[:1] == ["path_beg"], f"unexpected condition in {line!r}"
                paths.update(inline[1:])
            else:
                assert token in acls, f"unknown or negated ACL {token!r} in {line!r}"
                paths.update(acls[token])
    return routed


def assert_checks_ready(backend: list[str]) -> None:
    """An HAProxy backend sends new requests only to replicas whose GET /ready answers 200."""
    assert "option httpchk" in backend
    (send,) = [line for line in backend if line.startswith("http-check send")]
    assert re.match(r"http-check send meth GET uri /ready\b", send)
    assert "hdr Host localhost" in send  # in ALLOWED_HOSTS
    assert "hdr X-Forwarded-Proto https" in send  # no SECURE_SSL_REDIRECT 301
    assert "http-check expect status 200" in backend
    assert any(
        re.search(r"\bcheck\b", line) for line in backend if line.startswith(("default-server", "server"))
    )


def container_port(pod: dict, target: str | int) -> int:
    """A Service's targetPort (a port name or number) -> the containerPort it reaches in `pod`."""
    ports = [port for container in pod["containers"] for port in container.get("ports", [])]
    found = [p["containerPort"] for p in ports if target in (p.get("name"), p["containerPort"])]
    assert len(found) == 1, f"targetPort {target!r} matches {len(found)} container ports"
    return found[0]


def assert_command_exists(command: list[str]) -> None:
    """What a container runs is a module, management command or Celery app of this code base."""
    if command[:3] == ["python", "-m", "contactcenter.streams"]:
        module, attr = streams_config(command).app.split(":")  # the application it serves, set in code
        assert hasattr(importlib.import_module(module), attr), f"no {module}:{attr}"
    elif command[:2] == ["python", "-m"]:
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
    for name in ("web", "streams", "media", "sip", "worker", "beat"):
        assert ("Deployment", name) in kinds
    assert {("Service", "web"), ("Service", "streams"), ("Job", "migrate")} <= kinds
    assert {("HorizontalPodAutoscaler", "web"), ("HorizontalPodAutoscaler", "streams")} <= kinds
    assert ("Ingress", "contactcenter") in kinds and ("ConfigMap", "contactcenter-config") in kinds


@pytest.mark.parametrize("name", ["web", "streams"])
def test_web_and_streams_route_on_ready_restart_on_health_and_outlive_the_drain(name):
    spec = pod_spec(resource("Deployment", name))
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
    strategy = resource("Deployment", name)["spec"]["strategy"]["rollingUpdate"]
    assert strategy["maxUnavailable"] == 0


@pytest.mark.parametrize("name", ["web", "streams"])
def test_probes_send_a_host_the_app_allows(name):
    allowed = resource("ConfigMap", "contactcenter-config")["data"]["ALLOWED_HOSTS"].split(",")
    (container,) = pod_spec(resource("Deployment", name))["containers"]
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


def test_streams_listens_where_its_service_and_probes_point_and_runs_like_web():
    pod = pod_spec(resource("Deployment", "streams"))
    (container,) = pod["containers"]
    config = streams_config(container["command"])
    assert config.host == "0.0.0.0"  # reachable from outside the pod
    assert config.proxy_headers  # behind the ingress: the client's scheme and address
    for probe in ("readinessProbe", "livenessProbe"):
        assert container_port(pod, container[probe]["httpGet"]["port"]) == config.port, probe
    (web,) = pod_spec(resource("Deployment", "web"))["containers"]
    assert container["envFrom"] == web["envFrom"]  # the same settings and secrets
    assert container["volumeMounts"] == web["volumeMounts"]  # recordings go to the shared volume
    assert container["image"] == web["image"]


@pytest.mark.parametrize("name", ["web", "streams"])
def test_each_service_reaches_the_container_port_of_its_pods(name):
    service = resource("Service", name)
    deployment = resource("Deployment", name)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()  # otherwise it has no endpoints
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    (port,) = service["spec"]["ports"]
    (container,) = pod_spec(deployment)["containers"]
    listening = container["command"][container["command"].index("-p") + 1]
    assert container_port(pod_spec(deployment), port["targetPort"]) == int(listening)


def test_the_ingress_sends_carrier_media_to_streams_and_the_rest_to_web():
    ingress = resource("Ingress", "contactcenter")
    (rule,) = ingress["spec"]["rules"]
    routes = {path["path"]: path for path in rule["http"]["paths"]}
    for path in CARRIER_MEDIA_PATHS:
        assert routes[path]["pathType"] == "Prefix"
        assert routes[path]["backend"]["service"]["name"] == "streams"
    assert routes["/"]["pathType"] == "Prefix" and routes["/"]["backend"]["service"]["name"] == "web"
    assert set(routes) == CARRIER_MEDIA_PATHS | {"/"}  # nothing else leaves web
    for path, route in routes.items():  # the port each path names is one its Service has
        ports = resource("Service", route["backend"]["service"]["name"])["spec"]["ports"]
        wanted = route["backend"]["service"]["port"]
        if "name" in wanted:
            assert wanted["name"] in [port.get("name") for port in ports], path
        else:
            assert wanted["number"] in [port["port"] for port in ports], path
    # The long-WebSocket timeouts are Ingress-wide annotations: they cover the streams paths too.
    annotations = ingress["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600


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
@pytest.mark.parametrize("workload", ["web", "streams"])
def test_the_autoscalers_scale_on_a_gauge_metrics_exports(client, staff_user, agent, workload):
    hpa = resource("HorizontalPodAutoscaler", workload)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload}
    assert hpa["spec"]["minReplicas"] >= 2
    assert "replicas" not in resource("Deployment", workload)["spec"]  # an apply would undo the autoscaler
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
    assert set(ours) == {"migrate", "web", "streams", "worker", "beat", "media", "sip"}
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


def test_compose_streams_drains_and_is_reached_through_the_proxy_only():
    services = compose()["services"]
    streams_service, web = services["streams"], services["web"]
    config = streams_config(streams_service["command"])
    assert config.host == "0.0.0.0" and config.proxy_headers
    assert seconds(streams_service["stop_grace_period"]) >= default_drain_seconds() + 10
    assert f"http://127.0.0.1:{config.port}/ready" in " ".join(streams_service["healthcheck"]["test"])
    assert [str(port) for port in streams_service["expose"]] == [str(config.port)]
    assert "ports" not in streams_service
    assert streams_service["deploy"]["replicas"] >= 2  # one can drain while the other takes new calls
    assert streams_service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
    for key in ("env_file", "environment", "volumes"):  # the same settings, secrets and recordings as web
        assert streams_service[key] == web[key], key
    assert "streams" in services["proxy"]["depends_on"]


def test_the_proxy_sends_carrier_media_to_streams_and_the_rest_to_web():
    sections = haproxy_sections()
    frontend = sections["frontend public"]
    assert CARRIER_MEDIA_PATHS == {"/ws/twilio/", "/ws/plivo/"}  # read from the code's routes
    assert backend_paths(frontend) == {"streams": CARRIER_MEDIA_PATHS}  # and no other use_backend
    assert [line for line in frontend if line.startswith("default_backend")] == ["default_backend web"]
    others = {f"/{route.pattern}" for route in websocket_urlpatterns} - CARRIER_MEDIA_PATHS
    assert others  # the dashboard's and browser calls' sockets: they stay on web
    for path in others:
        assert not any(path.startswith(prefix) for prefix in CARRIER_MEDIA_PATHS), path
    services = compose()["services"]
    for name in ("web", "streams"):
        backend = sections[f"backend {name}"]
        assert_checks_ready(backend)
        (template,) = [line for line in backend if line.startswith("server-template ")]
        (port,) = services[name]["expose"]
        assert f" {name}:{port} " in f"{template} "  # the compose service and the port it listens on
        timeouts = sections["defaults"] + backend
        tunnel = [line.split()[2] for line in timeouts if line.startswith("timeout tunnel")]
        assert tunnel and seconds(tunnel[-1]) >= 3600  # a call's WebSocket outlives the call


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

"""The Helm chart (deploy/helm/fitmint), rendered by the real Helm (scripts/kube/render.py, Kubernetes 1.31) for
each value set of its ci/ folder, and checked against the code each container runs:

- every environment variable a container of the project's image gets is a field of the Settings classes its
  command loads (derived as for docker-compose.yml: tests/support/processsettings.py), every host, URL and
  file setting the process needs is given, files are mounted from the Secrets the values name;
- every pod runs as non-root on a read-only root filesystem, no capabilities, seccomp RuntimeDefault, no
  service-account token; probes check what `make status` and docker-compose.yml check;
- the NetworkPolicies allow exactly the flows of `flows` (and each process is given exactly the endpoints of
  its flows), the Istio AuthorizationPolicies allow the same sources, mesh retries only where idempotent;
- the indexer's single writer, the worker per partition, the migrations hook, the toggles, and bad values
  refused with a message naming the value.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import asyncpg
import pytest
import yaml

from fitmint import secrets
from fitmint.settings import default
from scripts.kube.render import CHART, RenderError, lint, parse, render, value_sets
from tests.support.databases import admin_dsn, create_databases, drop_databases
from tests.support.paths import ROOT
from tests.support.processsettings import all_fields, class_settings, entry_point, load, settings_classes
from tests.support.stackenv import stack_settings

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
IMAGE = VALUES["image"]["repository"]
COMPONENTS = ("api", "worker", "indexer", "txqueue", "analytics", "recommend", "acapy")
LISTENERS = {"api": ("api", 8000), "recommend": ("recommend", 59468), "acapy-admin": ("acapy", 8021),
             "acapy-didcomm": ("acapy", 8020)}
ENDPOINTS = ("postgres", "redis", "kafka", "ipfs", "rpc", "smtp", "otlp", "didcomm-peers")

# Variables a container gets that are not settings: the interpreter's and its libraries'.
PROCESS_ENV = {
    "HOME": "the image has no home for the pods' user: /tmp (an emptyDir)",
    "PYTHONDONTWRITEBYTECODE": "the root filesystem is read-only: no __pycache__",
    "PATH": "recommend: its own venv (/opt/recommend) first, as in docker-compose.yml",
    "FEAST_USAGE": "recommend: Feast's usage telemetry off (as in docker-compose.yml)",
    "OPENBLAS_NUM_THREADS": "recommend: one BLAS thread for implicit (as in docker-compose.yml)",
}
# Host, URL and file settings a process need not be given in the chart, and why.
EXEMPT = {
    "KAFKA_PORT": "only builds KAFKA_BOOTSTRAP's default; KAFKA_BOOTSTRAP is given where Kafka is called",
    "IPFS_API_PORT": "only builds IPFS_API_URL's default; IPFS_API_URL is given to the API",
    "JAEGER_OTLP_PORT": "only builds the default traces endpoint; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is given",
    "VICTORIALOGS_PORT": "only builds the default logs endpoint; OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is given",
    "SMS_SINK_FILE": "the dev SMS provider's sink, default under FITMINT_STATE_DIR (an emptyDir)",
    "SMTP_PASSWORD_FILE": "unset: no SMTP login (secrets.smtpPassword names none in most sets)",
    "DAPP_DIR": "the reference dApp's build is in the image (clients/dapp/dist)",
    "IDENTITY_STATUS_BASE_URL": "unset: SIWE_URI's, the API's public origin (each list keeps the URL it opened with)",
    "FITMINT_OPERATOR_KEY_FILE": "the operator pool is the transaction queue's alone (TXQUEUE_KEY_FILES)",
    "FITMINT_OPERATOR_KEY_FILES": "likewise",
    "TXQUEUE_RPC_URL": "unset: FITMINT_RPC_URL, which is given",
    "HEAD_WEBSOCKET_URL": "unset: FITMINT_RPC_URL's ws:// (wss://) twin, same host and port (the network policy's "
                          "flow to the node covers it); a node without WebSocket there is polled",
    "FITMINT_ATTESTOR_SIGNER_URL": "unset: the API signs with the attestor key file the Secret mounts",
    "TXQUEUE_SIGNER_URL": "unset: the queue signs with the operator key files the Secret mounts",
}
# Settings of a Settings class shared by two processes that one of them never calls (its network policy
# allows no flow there, so it is not given the address either).
NOT_CALLED = {
    "worker": {"IPFS_API_URL": "the catalog (IPFS) is the API's", "RECOMMEND_URL": "only the API asks recommendations",
               "PUBLIC_RPC_URL": "GET /chain is the API's", "SIWE_URI": "sign-in is the API's",
               "OPA_URL": "authorization decisions are the API's (its OPA sidecar)"},
    "api": {"SMTP_HOST": "only the worker sends email"},
    "recommend": {"FITMINT_RPC_URL": "the kernel's settings name the chain; recommendations never call it",
                  "KAFKA_BOOTSTRAP": "it follows the analytics store, not Kafka"},
    "analytics": {"FITMINT_RPC_URL": "it reads the bus, not the chain"},
    "txqueue": {"KAFKA_BOOTSTRAP": "its outcomes go to the API's outbox; the API's relay publishes them"},
}


# --- rendering --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sets() -> dict[str, list[dict]]:
    return {name: render(path) for name, path in value_sets().items()}


def set_values(name: str) -> dict:
    return yaml.safe_load(value_sets()[name].read_text())


def with_default_set(values: dict) -> list[dict]:
    return render(value_sets()["default"], values=values)


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def component_of(obj: dict) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def workloads(objects: list[dict]) -> list[dict]:
    return [o for o in objects if o["kind"] in ("Deployment", "StatefulSet", "Job")]


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def ours(objects: list[dict]) -> list[tuple[str, dict, dict]]:
    """(component, container, pod spec) of every container of the project's image."""
    return [(component_of(w), c, pod_spec(w)) for w in workloads(objects) for c in pod_spec(w)["containers"]
            if c["image"].strip('"').startswith(IMAGE + ":")]


def env_of(container: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def test_every_value_set_lints_and_renders(sets):
    assert {"default", "minimal", "production", "istio", "linkerd", "litmus"} <= set(sets)
    for name, path in value_sets().items():
        result = lint(path)
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    for name, objects in sets.items():
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "StatefulSet", "Service", "NetworkPolicy", "Job", "ServiceAccount"} <= kinds, name


# --- settings, derived from the code ----------------------------------------------------------------

@pytest.fixture(scope="module")
def process_settings(sets) -> dict[str, list[str]]:
    """Component -> the Settings classes ("module:qualname") its command loads."""
    commands = {component: [*container["command"], *container.get("args", [])]
                for objects in sets.values() for component, container, _ in ours(objects)}
    modules = {}
    for component, argv in commands.items():
        kind, module, _ = entry_point({"command": argv})
        assert kind == "module", f"{component}: {argv} is not a module of the project"
        modules[component] = module
    classes = settings_classes(set(modules.values()))
    for component, module in modules.items():
        assert classes[module], f"{component}: {module} loads no Settings class of the project"
    return {component: classes[module] for component, module in modules.items()}


def test_every_variable_a_container_gets_is_a_setting_its_process_reads(sets, process_settings):
    problems = []
    for name, objects in sets.items():
        for component, container, _ in ours(objects):
            fields = set().union(*(all_fields(load(path)) for path in process_settings[component]))
            for variable in env_of(container):
                if variable not in fields and variable not in PROCESS_ENV:
                    problems.append(f"{name}/{component}: {variable} is no field of "
                                    f"{', '.join(process_settings[component])}")
    assert not problems, "\n".join(problems)


def test_the_derivation_finds_each_process_settings(process_settings):
    assert "backend.app.core.config:Settings" in process_settings["api"]
    assert process_settings["worker"] == process_settings["api"]  # one class
    assert "indexer.settings:Settings" in process_settings["indexer"]
    assert "fitmint.txqueue.settings:TxQueueSettings" in process_settings["txqueue"]
    assert "analytics.settings:Settings" in process_settings["analytics"]
    assert "recommend.settings:RecommendSettings" in process_settings["recommend"]
    assert "fitmint.telemetry.settings:TelemetrySettings" in process_settings["indexer"]
    assert {"analytics.settings:Settings", "indexer.settings:Settings"} <= set(process_settings["migrations"])


def test_every_host_url_and_file_a_process_needs_is_given(sets, process_settings):
    problems = []
    for component, container, _ in ours(sets["default"]):
        given = env_of(container)
        for setting in {s for path in process_settings[component] for s in class_settings(load(path))}:
            listener_of = next((c for c in COMPONENTS if setting.key.startswith(f"{c}_")), None)
            if (setting.kind == "port" or setting.env in EXEMPT or setting.env in NOT_CALLED.get(component, {})
                    or (listener_of is not None and listener_of != component) or component == "migrations"):
                continue
            if setting.env not in given:
                problems.append(f"{component}: {setting.env} is not set ({setting.origin})")
    assert not problems, "\n".join(problems)
    every = {s.env for paths in process_settings.values() for p in paths for s in class_settings(load(p))}
    assert set(EXEMPT) <= every, f"EXEMPT names settings no process has: {set(EXEMPT) - every}"


def test_listeners_bind_every_interface_on_their_container_port(sets):
    for component, container, _ in ours(sets["default"]):
        env, ports = env_of(container), {p["containerPort"] for p in container.get("ports", [])}
        for variable, value in env.items():
            if variable.startswith(component.upper() + "_") and variable.endswith("_HOST"):
                assert value == "0.0.0.0", f"{component}: {variable}={value}"
            if variable.startswith(component.upper() + "_") and variable.endswith("_PORT"):
                assert int(value) in ports, f"{component}: {variable}={value}, container ports {ports}"


def mounted_from(pod: dict, container: dict, path: str) -> dict | None:
    """The volume `path` lies in (the container's mount), or None."""
    for mount in container.get("volumeMounts", []):
        if PurePosixPath(path).is_relative_to(mount["mountPath"]):
            return next(v for v in pod["volumes"] if v["name"] == mount["name"]) | {"_relative": str(
                PurePosixPath(path).relative_to(mount["mountPath"]))}
    return None


def secret_item(volume: dict, relative: str) -> tuple[str, str] | None:
    for source in volume.get("projected", {}).get("sources", []):
        for item in source.get("secret", {}).get("items", []):
            if item["path"] == relative:
                return source["secret"]["name"], item["key"]
    return None


def test_files_are_mounted_from_the_secrets_the_values_name(sets):
    refs = {ref: (VALUES["secrets"][ref]["name"], VALUES["secrets"][ref]["key"]) for ref in
               ("postgresPassword", "attestorKey", "acapyAdminKey")}
    expected = {"POSTGRES_PASSWORD_FILE": refs["postgresPassword"], "JWT_KEYS_DIR": None,
                "FITMINT_ATTESTOR_KEY_FILE": refs["attestorKey"], "ACAPY_ADMIN_KEY_FILE": refs["acapyAdminKey"]}
    seen = set()
    for component, container, pod in ours(sets["default"]):
        for variable, value in env_of(container).items():
            if not (variable.endswith(("_FILE", "_FILES", "_DIR")) or variable in ("MANIFEST", "FEAST_REGISTRY")):
                continue
            for path in json.loads(value) if value.startswith("[") else [value]:
                volume = mounted_from(pod, container, path)
                assert volume is not None, f"{component}: {variable}={path} is on no mounted volume"
                if variable == "JWT_KEYS_DIR":  # the key ring: every key of its Secret, updated in place
                    assert volume["secret"] == {"secretName": VALUES["secrets"]["jwtKeys"]["name"],
                                                "defaultMode": 0o440} and volume["_relative"] == ".", component
                    assert secrets.exposure_of(path, 0o440, owner=0, reader=pod["securityContext"]["runAsUser"]) is None
                    assert pod["securityContext"]["fsGroup"] is not None
                    seen.add(variable)
                elif variable in expected:
                    assert secret_item(volume, volume["_relative"]) == expected[variable], f"{component}: {variable}"
                    seen.add(variable)
                if variable == "TXQUEUE_KEY_FILES":
                    assert secret_item(volume, volume["_relative"]) == (
                        VALUES["secrets"]["operatorKeys"]["name"], volume["_relative"]), path
                if variable == "MANIFEST":
                    assert "configMap" in volume
    assert seen == set(expected)


def test_the_secret_files_are_readable_by_the_processes_and_keep_their_permission_rule(sets):
    """Kubernetes writes a Secret volume's files owned by root, group fsGroup, mode defaultMode: each process
    (non-root, in fsGroup) reads them through the group, and fitmint/secrets.py's rule, which every process
    checks at start-up, accepts them (a process would refuse to start otherwise)."""
    checked = set()
    for component, _, pod in ours(sets["default"]):
        context = pod["securityContext"]
        for volume in pod["volumes"]:
            if "projected" not in volume or not any("secret" in s for s in volume["projected"]["sources"]):
                continue
            mode = volume["projected"]["defaultMode"]
            assert context["runAsUser"] != 0 and context["fsGroup"] is not None, component
            assert mode & 0o040, f"{component}: fsGroup cannot read its secrets (mode {mode:04o})"
            assert secrets.exposure_of(volume["name"], mode, owner=0, reader=context["runAsUser"]) is None, component
            checked.add(component)
    assert {"api", "worker", "indexer", "txqueue", "analytics"} <= checked


def test_with_remote_signers_the_pods_get_their_urls_and_no_key_files(process_settings):
    """endpoints.attestorSigner / operatorSigner (fitmint/signers.py): the API and the transaction queue are
    given the signer's URL and address(es), every name a setting of theirs; the key files are not mounted; the
    network policies let exactly them reach the signers' ports."""
    attestor, pool = "0x" + "ab" * 20, ["0x" + "01" * 20, "0x" + "02" * 20]
    flows = {**VALUES["flows"], "api": [*VALUES["flows"]["api"], "attestor-signer"],
             "txqueue": [*VALUES["flows"]["txqueue"], "operator-signer"]}
    peers = {"attestor-signer": [{"ipBlock": {"cidr": "10.7.0.1/32"}}],
             "operator-signer": [{"ipBlock": {"cidr": "10.7.0.2/32"}}]}
    objects = with_default_set({
        "endpoints": {"attestorSigner": {"url": "http://10.7.0.1:9000", "address": attestor},
                      "operatorSigner": {"url": "https://10.7.0.2", "addresses": pool}},
        "flows": flows, "networkPolicy": {"peers": peers}})
    containers = {component: (container, pod) for component, container, pod in ours(objects)}
    api = containers["api"][0]
    assert env_of(api)["FITMINT_ATTESTOR_SIGNER_URL"] == "http://10.7.0.1:9000"
    assert env_of(api)["FITMINT_ATTESTOR_ADDRESS"] == attestor and "FITMINT_ATTESTOR_KEY_FILE" not in env_of(api)
    txqueue = env_of(containers["txqueue"][0])
    assert txqueue["TXQUEUE_SIGNER_URL"] == "https://10.7.0.2"
    assert json.loads(txqueue["TXQUEUE_SIGNER_ADDRESSES"]) == pool and "TXQUEUE_KEY_FILES" not in txqueue
    mounted = {item["path"] for component in ("api", "worker", "txqueue")
               for volume in containers[component][1]["volumes"]
               for source in volume.get("projected", {}).get("sources", []) for item in source["secret"]["items"]}
    assert "attestor.key" not in mounted and not mounted & set(VALUES["secrets"]["operatorKeys"]["keys"])
    assert "postgres-password" in mounted
    for component, port, cidr in (("api", 9000, "10.7.0.1/32"), ("txqueue", 443, "10.7.0.2/32")):
        assert egress_allows(objects, component, port, lambda peer, cidr=cidr: peer == {"ipBlock": {"cidr": cidr}})
    for component in ("worker", "indexer", "analytics"):
        assert not egress_allows(objects, component, 9000, lambda peer: peer == peers["attestor-signer"][0])
    for component in ("api", "worker", "txqueue"):
        fields = set().union(*(all_fields(load(path)) for path in process_settings[component]))
        assert not [v for v in env_of(containers[component][0]) if v not in fields and v not in PROCESS_ENV], component


def services(objects: list[dict]) -> dict[str, set[int]]:
    return {name: {p["port"] for p in s["spec"]["ports"]} for name, s in of_kind(objects, "Service").items()}


def test_addresses_between_processes_name_a_service_and_its_port(sets):
    objects = sets["default"]
    known = services(objects)
    for component, container, _ in ours(objects):
        for variable in ("ACAPY_ADMIN_URL", "RECOMMEND_URL"):
            if variable in env_of(container):
                url = urlsplit(env_of(container)[variable])
                assert url.hostname in known and url.port in known[url.hostname], f"{component}: {variable}"


def test_the_api_believes_forwarded_addresses_only_from_the_proxies_the_values_name(sets):
    """uvicorn's own X-Forwarded-For handling stays off (its default trusts 127.0.0.1, any sidecar); the
    proxies in `api.trustedProxies` reach the API as TRUSTED_PROXIES, which its settings parse."""
    from backend.app.core.config import Settings

    named = {}
    for name, path in value_sets().items():
        api = next(c for component, c, _ in ours(sets[name]) if component == "api")
        assert "--no-proxy-headers" in api["command"], name
        proxies = (yaml.safe_load(path.read_text()) or {}).get("api", {}).get("trustedProxies", [])
        given = env_of(api).get("TRUSTED_PROXIES")
        assert given == (",".join(proxies) or None), name
        if given:
            named[name] = [str(network) for network in Settings(trusted_proxies=given).trusted_proxies]
    assert named == {"production": ["10.64.0.0/14"]}


def test_the_api_keeps_idle_connections_longer_than_the_proxy_in_front(sets):
    """uvicorn's 5 s default would close idle connections a proxy (60 s idle timeout for most) still reuses."""
    for name, objects in sets.items():
        command = next(c for component, c, _ in ours(objects) if component == "api")["command"]
        assert command[command.index("--timeout-keep-alive") + 1] == str(VALUES["api"]["keepAliveSeconds"]), name
    assert VALUES["api"]["keepAliveSeconds"] > 60
    shorter = with_default_set({"api": {"keepAliveSeconds": 30}})
    command = next(c for component, c, _ in ours(shorter) if component == "api")["command"]
    assert command[command.index("--timeout-keep-alive") + 1] == "30"


def test_acapy_webhooks_go_to_the_api_with_the_admin_key_the_controllers_read(sets):
    objects = sets["default"]
    acapy = next(c for w in workloads(objects) if component_of(w) == "acapy" for c in pod_spec(w)["containers"])
    env = {e["name"]: e for e in acapy["env"]}
    webhook = urlsplit(env["ACAPY_WEBHOOK_URL"]["value"])
    assert webhook.hostname in services(objects) and webhook.port in services(objects)[webhook.hostname]
    assert webhook.path == "/agent/webhooks" and webhook.fragment == "$(ACAPY_ADMIN_API_KEY)"
    key = env["ACAPY_ADMIN_API_KEY"]["valueFrom"]["secretKeyRef"]
    admin_key = VALUES["secrets"]["acapyAdminKey"]
    assert (key["name"], key["key"]) == (admin_key["name"], admin_key["key"])
    # The same route docker-compose.yml's ACA-Py posts to (tests/stack/test_compose.py checks the API serves it).
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["acapy"]["command"][0]
    assert urlsplit(re.search(r'ACAPY_WEBHOOK_URL="([^"]+)"', compose).group(1)).path == webhook.path
    assert "--admin-api-key" not in acapy["args"] and "--wallet-key" not in acapy["args"], "keys belong in the env"


def test_acapy_loads_our_plugin_from_the_projects_image(sets):
    """The controller refuses DID Exchange requests through agent/acapy_plugin's route: the chart's agent (the stock
    image) imports it from a copy the project's image puts in the pod, as docker-compose.yml and stack.sh do."""
    for name, objects in sets.items():
        (agent,) = [w for w in workloads(objects) if component_of(w) == "acapy"]
        pod = pod_spec(agent)
        (acapy,) = pod["containers"]
        (plugin,) = [c for c in pod["initContainers"] if c["name"] == "plugin"]
        assert acapy["args"][acapy["args"].index("--plugin") + 1] == "fitmint_acapy", name
        path = {e["name"]: e.get("value") for e in acapy["env"]}["PYTHONPATH"]
        assert plugin["image"] == next(c for _, c, _ in ours(objects))["image"], name
        assert plugin["command"][-2:] == ["/app/agent/acapy_plugin/fitmint_acapy", "/plugin/"], name
        copied = next(m["name"] for m in plugin["volumeMounts"] if m["mountPath"] == "/plugin")
        assert any(m["name"] == copied and m["mountPath"] == path and m.get("readOnly")
                   for m in acapy["volumeMounts"]), name
    assert (ROOT / "agent/acapy_plugin/fitmint_acapy/routes.py").exists()
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["acapy"]
    assert "--plugin fitmint_acapy" in compose["command"][0]
    assert f"./agent/acapy_plugin:{compose['environment']['PYTHONPATH']}:ro" in compose["volumes"]


# --- hardening and probes ---------------------------------------------------------------------------

def test_every_pod_is_non_root_read_only_without_capabilities_or_token(sets):
    for name, objects in sets.items():
        for workload in workloads(objects):
            pod, where = pod_spec(workload), f"{name}/{workload['metadata']['name']}"
            assert pod["automountServiceAccountToken"] is False, where
            assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0, where
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert not pod.get("hostNetwork") and not pod.get("hostPID"), where
            assert all("hostPath" not in v for v in pod.get("volumes", [])), where
            for container in pod["containers"] + pod.get("initContainers", []):
                context = container["securityContext"]
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["allowPrivilegeEscalation"] is False and context["runAsNonRoot"] is True, where
                assert context["capabilities"] == {"drop": ["ALL"]}, where
                assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
                volumes = {v["name"]: v for v in pod.get("volumes", [])}
                claims = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
                for mount in container.get("volumeMounts", []):
                    volume = volumes.get(mount["name"], {})
                    writable = "emptyDir" in volume or "persistentVolumeClaim" in volume or mount["name"] in claims
                    assert mount.get("readOnly") or writable, f"{where}: {mount['mountPath']} writable, not scratch"
                assert any(m["mountPath"] == "/tmp" for m in container.get("volumeMounts", [])), f"{where}: no /tmp"


def test_every_api_pod_decides_with_its_own_opa_and_the_policy_of_the_repository(sets):
    """OPA is a native sidecar of the API (started first, stopped last), loading the ConfigMap made from
    policy/; its data API is only on a unix socket in an emptyDir the pod's two containers share."""
    for name, objects in sets.items():
        (api,) = [w for w in workloads(objects) if component_of(w) == "api"]
        pod = pod_spec(api)
        (opa,) = [c for c in pod.get("initContainers", []) if c["name"] == "opa"]
        assert opa["restartPolicy"] == "Always" and opa["startupProbe"]["httpGet"]["path"] == "/health", name
        argv = opa["args"]
        socket = env_of(pod["containers"][0])["OPA_URL"]
        assert argv[argv.index("--addr") + 1] == socket and argv.count("--addr") == 1, name
        assert "--ignore=.*" in argv and argv[-1] == "/policy", name
        mounts = {c["name"]: {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
                  for c in (opa, pod["containers"][0])}
        folder = socket.removeprefix("unix://").rsplit("/", 1)[0]
        assert mounts["opa"]["opa-socket"] == mounts["api"]["opa-socket"] == folder, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["opa-socket"], name
        config = of_kind(objects, "ConfigMap")[volumes["policy"]["configMap"]["name"]]
        assert config["data"] == {path.name: path.read_text() for path in (ROOT / "policy").iterdir()}, name
        assert api["spec"]["template"]["metadata"]["annotations"]["checksum/policy"], name


def test_acapy_runs_as_its_images_user_and_a_key_twice_in_a_rendering_is_refused(sets):
    acapy = next(w for w in workloads(sets["default"]) if component_of(w) == "acapy")
    assert pod_spec(acapy)["securityContext"]["runAsUser"] == VALUES["acapy"]["runAsUser"]
    with pytest.raises(RenderError, match="securityContext twice"):  # the API server would refuse it
        parse("kind: Pod\nspec:\n  securityContext: {runAsUser: 1}\n  securityContext: {runAsUser: 2}\n")


def test_service_accounts_mount_no_token_and_each_process_has_its_own(sets):
    objects = sets["default"]
    accounts = of_kind(objects, "ServiceAccount")
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())
    used = [pod_spec(w).get("serviceAccountName") for w in workloads(objects) if w["kind"] != "Job"]
    assert len(set(used)) == len(used) and set(used) <= set(accounts)


# What docker-compose.yml's healthchecks (and stack.sh's *_healthy) look at, per process.
COMPOSE_HEALTH = {"api": "/health", "indexer": "/metrics", "txqueue": "fitmint_txqueue_last_pass_timestamp_seconds",
                  "analytics": "/metrics", "recommend": "/health", "acapy": "/status/ready",
                  "worker": "fitmint:worker:"}


def test_probes_check_what_the_local_stack_checks(sets):
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for component, needle in COMPOSE_HEALTH.items():
        assert needle in json.dumps(compose[component]["healthcheck"]["test"]), component
    for workload in workloads(sets["default"]):
        if workload["kind"] == "Job":
            continue
        component = component_of(workload)
        for container in pod_spec(workload)["containers"]:
            ports = {p["name"] for p in container["ports"]}
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in container, f"{component}: no {probe}"
                if "httpGet" in container[probe]:
                    assert container[probe]["httpGet"]["port"] in ports, f"{component} {probe}"
            probes = json.dumps([container["readinessProbe"], container["livenessProbe"]])
            assert COMPOSE_HEALTH[component] in probes, f"{component}: probes miss {COMPOSE_HEALTH[component]}"
    api = next(c for component, c, _ in ours(sets["default"]) if component == "api")
    assert api["readinessProbe"]["httpGet"]["path"] == "/health"  # Redis reachable
    assert api["livenessProbe"]["httpGet"]["path"] == "/metrics"  # a Redis outage must not restart every API


def test_metrics_are_scraped_where_they_are_served(sets):
    for workload in workloads(sets["default"]):
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") == "true":
            port = int(annotations["prometheus.io/port"])
            container = pod_spec(workload)["containers"][0]
            assert port in {p["containerPort"] for p in container["ports"]}
    scraped = {component_of(w) for w in workloads(sets["default"])
               if w["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/scrape")}
    from scripts.stack.prometheus_config import COMPOSE_TARGETS
    assert scraped == set(COMPOSE_TARGETS) & set(COMPONENTS)  # every process Prometheus scrapes locally
    monitors = of_kind(sets["production"], "ServiceMonitor")  # the Prometheus Operator's way
    assert {component_of(m) for m in monitors.values()} == scraped
    for monitor in monitors.values():
        (service,) = [s for s in of_kind(sets["production"], "Service").values()
                      if s["spec"]["selector"] == monitor["spec"]["selector"]["matchLabels"]]
        assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


# --- replicas: what scales and what does not --------------------------------------------------------

def test_the_indexer_is_one_writer_and_a_standby(sets):
    for name in ("default", "production"):
        objects = sets[name]
        indexer = next(w for w in workloads(objects) if component_of(w) == "indexer")
        assert indexer["kind"] == "Deployment" and indexer["spec"]["replicas"] == 2, name
        assert pod_spec(indexer)["containers"][0]["command"] == ["python", "-m", "indexer", "run"]
        assert all(h["spec"]["scaleTargetRef"]["name"] != indexer["metadata"]["name"]
                   for h in of_kind(objects, "HorizontalPodAutoscaler").values()), "the indexer must not autoscale"
        budget = next(p for p in of_kind(objects, "PodDisruptionBudget").values() if component_of(p) == "indexer")
        assert budget["spec"].get("minAvailable") == 1 or budget["spec"].get("maxUnavailable") == 1
        (spread,) = pod_spec(indexer)["topologySpreadConstraints"]  # the standby on another node
        assert spread["labelSelector"]["matchLabels"] == pod_labels("indexer")
    # The single writer is the writer lock `python -m indexer run` takes before writing (indexer/writer.py;
    # tests/indexer prove a second candidate waits and takes over): replicas add standbys, never writers.
    source = (ROOT / "indexer" / "__main__.py").read_text()
    assert "await writer.acquire(stop)" in source
    assert "pg_try_advisory_lock" in (ROOT / "indexer" / "writer.py").read_text()
    minimal = next(w for w in workloads(sets["minimal"]) if component_of(w) == "indexer")
    assert minimal["spec"]["replicas"] == 1


def test_workers_default_to_one_per_kafka_partition_and_the_api_autoscales(sets):
    assert VALUES["worker"]["replicas"] == int(default("KAFKA_PARTITIONS"))
    objects = sets["default"]
    worker = next(w for w in workloads(objects) if component_of(w) == "worker")
    assert worker["spec"]["replicas"] == int(default("KAFKA_PARTITIONS"))
    api = next(w for w in workloads(objects) if component_of(w) == "api")
    assert "replicas" not in api["spec"]  # the HPA owns it
    (hpa,) = of_kind(objects, "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": api["metadata"]["name"]}
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_every_transaction_queue_replica_has_the_whole_pool_and_max_keys_when_set(sets):
    for name in ("default", "production"):
        keys = (set_values(name).get("secrets", {}).get("operatorKeys") or VALUES["secrets"]["operatorKeys"])["keys"]
        ((_, container, _),) = [o for o in ours(sets[name]) if o[0] == "txqueue"]
        files = json.loads(env_of(container)["TXQUEUE_KEY_FILES"])
        assert [PurePosixPath(f).name for f in files] == keys
        max_keys = (set_values(name).get("txqueue") or {}).get("maxKeysPerReplica")
        assert env_of(container).get("TXQUEUE_MAX_KEYS") == (str(max_keys) if max_keys else None)


# --- network policies: exactly the flows -------------------------------------------------------------

def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def pod_labels(component: str) -> dict:
    return {"app.kubernetes.io/name": "fitmint", "app.kubernetes.io/instance": "fitmint",
            "app.kubernetes.io/component": component}


def peer_is_pod(peer: dict, labels: dict) -> bool:
    """A peer naming pods of the release's namespace (no namespaceSelector) that `labels` match, or anyone."""
    if "ipBlock" in peer:
        return peer["ipBlock"]["cidr"] == "0.0.0.0/0" and not peer["ipBlock"].get("except")
    return "podSelector" in peer and "namespaceSelector" not in peer and selects(peer["podSelector"], labels)


def policies_of(objects: list[dict], component: str) -> list[dict]:
    return [p["spec"] for p in of_kind(objects, "NetworkPolicy").values() if selects(p["spec"]["podSelector"],
                                                                                      pod_labels(component))]


def rule_ports(rule: dict) -> set[int]:
    return {p["port"] for p in rule.get("ports", [])}


def egress_allows(objects, source: str, port: int, peer_matches) -> bool:
    return any(port in rule_ports(rule) and ("to" not in rule or any(peer_matches(p) for p in rule["to"]))
               for spec in policies_of(objects, source) for rule in spec.get("egress", []))


def ingress_allows(objects, destination: str, port: int, source_labels: dict) -> bool:
    return any(port in rule_ports(rule)
               and ("from" not in rule or any(peer_is_pod(p, source_labels) for p in rule["from"]))
               for spec in policies_of(objects, destination) for rule in spec.get("ingress", []))


def allowed(objects: list[dict], values: dict, source: str, destination: str) -> bool:
    if destination in LISTENERS:
        component, port = LISTENERS[destination]
        return (egress_allows(objects, source, port, lambda peer: peer_is_pod(peer, pod_labels(component)))
                and ingress_allows(objects, component, port, pod_labels(source)))
    peers = values["networkPolicy"]["peers"][destination]
    ports = {"postgres": [5432], "redis": [6379], "kafka": [9092], "ipfs": [5001], "rpc": [8545], "smtp": [587],
             "otlp": [4318], "didcomm-peers": [80, 443]}[destination]
    return any(egress_allows(objects, source, port, lambda peer: peer in peers) for port in ports)


# Each endpoint somewhere else (its own address block, its own port): a flow is allowed only to its endpoint.
APART = {
    "endpoints": {"rpc": {"url": "http://10.9.0.1:8545"}, "postgres": {"host": "10.9.0.2"},
                  "redis": {"host": "10.9.0.3"}, "kafka": {"bootstrap": "10.9.0.4:9092"}, "ipfs": {"apiUrl": "http://10.9.0.5:5001"},
                  "smtp": {"host": "10.9.0.6"}, "otlp": {"tracesEndpoint": "http://10.9.0.7:4318/v1/traces",
                                                         "logsEndpoint": "http://10.9.0.7:4318/v1/logs"}},
    "networkPolicy": {"peers": {name: [{"ipBlock": {"cidr": cidr}}] for name, cidr in {
                          "rpc": "10.9.0.1/32", "postgres": "10.9.0.2/32", "redis": "10.9.0.3/32",
                          "kafka": "10.9.0.4/32", "ipfs": "10.9.0.5/32", "smtp": "10.9.0.6/32", "otlp": "10.9.0.7/32",
                          "didcomm-peers": "203.0.113.0/24"}.items()},
                      "ingressFrom": {"api": [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}],
                                      "acapy-didcomm": [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}]}},
}


def test_network_policies_allow_exactly_the_flows(sets):
    objects = with_default_set(APART)
    values = {"networkPolicy": {"peers": APART["networkPolicy"]["peers"]}}
    flows = VALUES["flows"]
    problems = []
    for source in (*COMPONENTS, "migrations"):
        for destination in (*LISTENERS, *ENDPOINTS):
            expected = destination in flows[source]
            if allowed(objects, values, source, destination) != expected:
                problems.append(f"{source} -> {destination}: {'denied' if expected else 'allowed'}, flows say "
                                f"{'allowed' if expected else 'denied'}")
    assert not problems, "\n".join(problems)
    default_deny = of_kind(objects, "NetworkPolicy")["fitmint-default-deny"]
    assert default_deny["spec"]["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in default_deny["spec"]
    for source in (*COMPONENTS, "migrations"):  # DNS for everyone
        assert egress_allows(objects, source, 53, lambda peer: "kube-dns" in json.dumps(peer)), source


def test_each_process_is_given_exactly_the_endpoints_of_its_flows(sets):
    objects = with_default_set(APART)
    hosts = {"10.9.0.1": "rpc", "10.9.0.2": "postgres", "10.9.0.3": "redis", "10.9.0.4": "kafka", "10.9.0.5": "ipfs",
             "10.9.0.6": "smtp", "10.9.0.7": "otlp", "fitmint-acapy": "acapy-admin", "fitmint-recommend": "recommend"}
    for component, container, _ in ours(objects):
        given = set()
        for variable, value in env_of(container).items():
            if variable == "PUBLIC_RPC_URL":
                continue  # what wallets are told, not what the API calls
            for host, destination in hosts.items():
                if value and re.search(rf"(^|//|,){re.escape(host)}([:/,]|$)", value):
                    given.add(destination)
        assert given == set(VALUES["flows"][component]), f"{component}: given {sorted(given)}"


def test_prometheus_may_scrape_every_metrics_port(sets):
    objects = sets["production"]
    scrape = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for workload in workloads(objects):
        port = workload["spec"]["template"]["metadata"].get("annotations", {}).get("prometheus.io/port")
        if port:
            assert any(int(port) in rule_ports(rule) and scrape in rule.get("from", [])
                       for spec in policies_of(objects, component_of(workload)) for rule in spec.get("ingress", []))


# --- mesh --------------------------------------------------------------------------------------------

def test_istio_policies_allow_the_same_sources_as_the_network_policies(sets):
    objects = sets["istio"]
    (peer_auth,) = of_kind(objects, "PeerAuthentication").values()
    assert peer_auth["spec"]["mtls"] == {"mode": "STRICT"}
    assert selects(peer_auth["spec"]["selector"], pod_labels("worker"))
    policies = {component_of(p): p["spec"] for p in of_kind(objects, "AuthorizationPolicy").values()}
    assert set(policies) == set(COMPONENTS)
    gateway = VALUES["mesh"]["istio"]["ingressPrincipals"]
    for listener, (component, port) in LISTENERS.items():
        sources = {s for s in (*COMPONENTS, "migrations") if listener in VALUES["flows"][s]}
        admitted = {s for s in sources if ingress_allows(objects, component, port, pod_labels(s))}
        assert admitted == sources - {"migrations"}
        principals = {p for rule in policies[component].get("rules", [])
                      if str(port) in rule["to"][0]["operation"]["ports"]
                      for p in rule["from"][0]["source"]["principals"]}
        expected = {f"cluster.local/ns/fitmint/sa/fitmint-{s}" for s in sources - {"migrations"}}
        if listener in VALUES["networkPolicy"]["ingressFrom"]:
            expected |= set(gateway)
        assert principals == expected, listener
    for component in ("worker", "indexer", "txqueue", "analytics"):  # called by nobody: ALLOW without rules
        assert policies[component]["action"] == "ALLOW" and "rules" not in policies[component]


def test_mesh_retries_only_idempotent_calls(sets):
    objects = sets["istio"]
    routes = {component_of(v): v["spec"]["http"] for v in of_kind(objects, "VirtualService").values()}
    assert routes["acapy"] == [routes["acapy"][0]] and routes["acapy"][0]["retries"] == {"attempts": 0}
    assert routes["recommend"][0]["retries"]["attempts"] > 0
    reads, writes = routes["api"]
    assert {m["method"]["exact"] for m in reads["match"]} == {"GET", "HEAD"} and reads["retries"]["attempts"] >= 1
    assert "5xx" not in reads["retries"]["retryOn"]  # a 503 from the API is an answer (a dependency is down)
    assert "match" not in writes and writes["retries"] == {"attempts": 0}
    outliers = {component_of(d) for d in of_kind(objects, "DestinationRule").values()
                if "outlierDetection" in d["spec"]["trafficPolicy"]}
    assert outliers == {"api", "recommend"}
    assert not {"PeerAuthentication", "AuthorizationPolicy", "VirtualService"} & {o["kind"] for o in sets["default"]}


def test_linkerd_injects_and_makes_the_database_and_broker_ports_opaque(sets):
    objects = sets["linkerd"]
    for workload in workloads(objects):
        annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
        if workload["kind"] == "Job":
            assert annotations["linkerd.io/inject"] == "disabled"  # a proxy would keep the Job running
            continue
        assert annotations["linkerd.io/inject"] == "enabled"
        assert {"5432", "6379", "9092", "587"} <= set(annotations["config.linkerd.io/opaque-ports"].split(","))
    linkerd_egress = [r for spec in policies_of(objects, "api") for r in spec.get("egress", [])
                      if rule_ports(r) == {8080, 8086, 8090}]
    assert linkerd_egress, "the proxy must reach Linkerd's control plane"


def test_with_the_vault_agent_each_file_a_process_reads_comes_from_vault():
    wanted = {"postgres-password", "attestor.key", "acapy-admin-key",
              *VALUES["secrets"]["operatorKeys"]["keys"]}
    files = {name: {"path": f"secret/data/fitmint/{name}", "field": "value"} for name in wanted}
    objects = with_default_set({"secrets": {"vaultAgent": {"enabled": True, "files": files}},
                                "networkPolicy": {"peers": {"vault": [{"ipBlock": {"cidr": "10.8.0.1/32"}}]}}})
    for component, container, pod in ours(objects):
        workload = next(w for w in workloads(objects) if component_of(w) == component)
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["vault.hashicorp.com/agent-inject"] == "true", component
        assert not [v for v in pod["volumes"] if "projected" in v], f"{component}: the Secrets are not mounted"
        for variable, value in env_of(container).items():
            if variable.endswith(("_FILE", "_FILES")) and value.startswith(("/run/secrets/", "[")):
                for path in json.loads(value) if value.startswith("[") else [value]:
                    name = PurePosixPath(path).name
                    assert str(PurePosixPath(path).parent) == annotations["vault.hashicorp.com/secret-volume-path"]
                    assert annotations[f"vault.hashicorp.com/agent-inject-secret-{name}"] == files[name]["path"]
                    assert '.Data.data.value' in annotations[f"vault.hashicorp.com/agent-inject-template-{name}"]
                    # Written by the agent (its own user) into the pod's fsGroup volume: the processes' rule.
                    mode = int(annotations[f"vault.hashicorp.com/agent-inject-perms-{name}"], 8)
                    assert mode & 0o040 and secrets.exposure_of(path, mode, owner=100, reader=10001) is None
        if component in ("api", "worker"):  # the signing key ring stays a Kubernetes Secret (a directory)
            assert mounted_from(pod, container, env_of(container)["JWT_KEYS_DIR"])["secret"]["secretName"] == \
                VALUES["secrets"]["jwtKeys"]["name"]
        assert egress_allows(objects, component, 8200, lambda peer: peer == {"ipBlock": {"cidr": "10.8.0.1/32"}})
    (job,) = of_kind(objects, "Job").values()
    assert job["spec"]["template"]["metadata"]["annotations"]["vault.hashicorp.com/agent-pre-populate-only"] == "true"
    with pytest.raises(RenderError, match="secrets.vaultAgent.files.postgres-password"):
        with_default_set({"secrets": {"vaultAgent": {"enabled": True, "files": {
            k: v for k, v in files.items() if k != "postgres-password"}}}})


# --- toggles, hooks, chaos ---------------------------------------------------------------------------

@pytest.mark.parametrize("component", ["recommend", "acapy", "txqueue"])
def test_a_disabled_process_leaves_no_object_and_no_flow(component):
    objects = with_default_set({component: {"enabled": False}})
    assert not [o for o in objects if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component]
    listeners = [port for name, (owner, port) in LISTENERS.items() if owner == component]
    for spec in [p["spec"] for p in of_kind(objects, "NetworkPolicy").values()]:
        for rule in spec.get("egress", []):
            assert not any(peer_is_pod(p, pod_labels(component)) for p in rule.get("to", [])) or not (
                rule_ports(rule) & set(listeners))


def test_network_policies_and_migrations_can_be_turned_off():
    objects = with_default_set({"networkPolicy": {"enabled": False}, "migrations": {"enabled": False}})
    assert not {"NetworkPolicy", "Job"} & {o["kind"] for o in objects}


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(sets):
    (job,) = of_kind(sets["default"], "Job").values()
    annotations = job["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    assert pod_spec(job)["containers"][0]["command"] == ["python", "-m", "ops.migrate", "--backend", "--analytics"]
    (job,) = of_kind(with_default_set({"migrations": {"indexer": True}}), "Job").values()
    assert pod_spec(job)["containers"][0]["command"][-1] == "--indexer"


def test_the_migrations_hook_migrates_fresh_databases_and_again_idempotently(sets, tmp_path):
    """The hook's rendered command and environment, against throwaway databases of the local stack's
    PostgreSQL (the hook's paths mapped to local files)."""
    stack = stack_settings()
    names = {kind: f"chart_migrate_{kind}_{os.getpid()}" for kind in ("backend", "analytics", "indexer")}
    objects = with_default_set({"migrations": {"indexer": True}, "endpoints": {"postgres": {
        "host": "127.0.0.1", "port": int(stack["POSTGRES_PORT"]), "user": stack["POSTGRES_USER"], "databases": names}}})
    (job,) = of_kind(objects, "Job").values()
    container = pod_spec(job)["containers"][0]
    env = env_of(container) | {
        "POSTGRES_PASSWORD_FILE": str(Path(stack["FITMINT_STATE_DIR"]) / "secrets" / "postgres-password"),
        "FITMINT_STATE_DIR": str(tmp_path), "MANIFEST": str(tmp_path / "none.json")}
    connect = admin_dsn(stack)
    asyncio.run(create_databases(names.values(), **connect))
    try:
        for _ in range(2):
            environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), **env}
            result = subprocess.run([sys.executable, *container["command"][1:]], cwd=ROOT, capture_output=True,
                                    text=True, timeout=180, env=environment)
            assert result.returncode == 0, result.stderr
            assert result.stderr.count("schema is current") == 3, result.stderr

        async def tables(database: str) -> set[str]:
            connection = await asyncpg.connect(**connect, database=database)
            try:
                rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                return {row["tablename"] for row in rows}
            finally:
                await connection.close()
        assert {"alembic_version", "txqueue_request", "outbox"} <= asyncio.run(tables(names["backend"]))
        assert {"events", "store_state"} <= asyncio.run(tables(names["analytics"]))
        assert {"indexer_meta", "indexer_cursor"} <= asyncio.run(tables(names["indexer"]))
    finally:
        asyncio.run(drop_databases(names.values(), **connect))


def test_litmus_experiments_cover_the_fitness_and_wallet_paths_with_health_probes(sets):
    objects = sets["litmus"]
    experiments = of_kind(objects, "ChaosExperiment")
    assert set(experiments) == {"pod-delete", "pod-network-latency", "container-kill"}
    engines = {component_of(e): e for e in of_kind(objects, "ChaosEngine").values()}
    assert set(engines) == {"api", "worker", "indexer", "txqueue"}
    assert {engines[c]["metadata"]["labels"]["fitmint.dev/chaos-path"] for c in ("api", "worker")} == {"fitness"}
    assert {engines[c]["metadata"]["labels"]["fitmint.dev/chaos-path"] for c in ("indexer", "txqueue")} == {"wallet"}
    api_health = "http://fitmint-api.fitmint.svc:8000/health"
    for component, engine in engines.items():
        assert f"app.kubernetes.io/component={component}" in engine["spec"]["appinfo"]["applabel"]
        assert [e["name"] for e in engine["spec"]["experiments"]] == list(experiments)
        for experiment in engine["spec"]["experiments"]:
            probes = experiment["spec"]["probe"]
            assert any(p["type"] == "httpProbe" and p["httpProbe/inputs"]["url"] == api_health for p in probes)
            target = {e["name"]: e["value"] for e in experiment["spec"]["components"]["env"]}["TARGET_CONTAINER"]
            workload = next(w for w in workloads(objects) if component_of(w) == component)
            assert target in {c["name"] for c in pod_spec(workload)["containers"]}
    # The probes reach what they probe through the network policies.
    litmus = {"app.kubernetes.io/part-of": "litmus"}
    for component in engines:
        port = LISTENERS["api"][1] if component == "api" else int(
            next(w for w in workloads(objects) if component_of(w) == component)["spec"]["template"]["metadata"]
            ["annotations"]["prometheus.io/port"])
        assert ingress_allows(objects, component, port, litmus), component
    assert not {"ChaosEngine", "ChaosExperiment"} & {o["kind"] for o in sets["default"]}


# --- bad values ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, message", [
    ({"apii": {"replicas": 2}}, "additional properties 'apii' not allowed"),
    ({"endpoints": {"kafka": {"bootstrap": "kafka"}}}, "/endpoints/kafka/bootstrap"),
    ({"endpoints": {"rpc": {"url": ""}}}, "endpoints.rpc.url"),
    ({"worker": {"replicas": "three"}}, "/worker/replicas"),
    ({"flows": {"api": ["postgres", "mysql"]}}, "/flows/api/1"),
    ({"secrets": {"operatorKeys": {"keys": []}}}, "/secrets/operatorKeys/keys"),
    ({"mesh": {"istio": {"enabled": True}, "linkerd": {"enabled": True}}}, "enable Istio or Linkerd, not both"),
    ({"api": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}, "minReplicas (5) is above maxReplicas (2)"),
    ({"api": {"pdb": {"minAvailable": 1}}}, "api.pdb: set minAvailable or maxUnavailable, not both"),
    ({"chain": {"manifest": {"existingConfigMap": ""}}}, "chain.manifest: set existingConfigMap"),
    ({"chain": {"manifest": {"existingConfigMap": "", "json": "{not json"}}}, "chain.manifest.json is not JSON"),
    ({"txqueue": {"maxKeysPerReplica": 9}}, "txqueue.maxKeysPerReplica (9) is more than the pool's keys"),
    ({"chaos": {"litmus": {"enabled": True, "experiments": ["node-drain"]}}}, "/chaos/litmus/experiments/0"),
    ({"recommend": {"replicas": 2, "persistence": {"enabled": True}}}, "recommend.replicas must be 1"),
    ({"mesh": {"istio": {"enabled": True, "gateways": ["istio-system/public"]}}}, "mesh.istio.publicHosts"),
    ({"endpoints": {"attestorSigner": {"url": "http://signer:9000"}}}, "endpoints.attestorSigner.address"),
    ({"endpoints": {"attestorSigner": {"url": "http://signer:9000", "address": "0x" + "ab" * 20}}},
     "flows.api: add attestor-signer"),
    ({"endpoints": {"operatorSigner": {"url": "http://signer:9000"}}, "flows": {"txqueue": ["operator-signer"]}},
     "endpoints.operatorSigner.addresses"),
    ({"flows": {"txqueue": ["postgres", "operator-signer"]}}, "operator-signer needs endpoints.operatorSigner.url"),
], ids=["unknown-key", "bootstrap", "no-rpc", "type", "unknown-flow", "no-keys", "two-meshes", "autoscaling",
        "pdb", "no-manifest", "manifest-json", "max-keys", "unknown-fault", "recommend-volume", "gateway-hosts",
        "signer-address", "signer-flow", "pool-addresses", "flow-without-signer"])
def test_bad_values_are_refused_with_a_message_naming_them(values, message):
    with pytest.raises(RenderError) as refused:
        with_default_set(values)
    assert message in str(refused.value), str(refused.value)


def test_helm_lint_checks_the_schema_too():
    result = lint(value_sets()["default"], values={"endpoints": {"postgres": {"port": 70000}}})
    assert result.returncode != 0 and "/endpoints/postgres/port" in result.stdout + result.stderr

"""docker-compose.yml, rendered by a real Compose (Docker Compose v2: `docker-compose config`, which needs
no Docker engine) and checked against the code each service runs:

- every host, port, URL, Kafka bootstrap list, file and folder a process's settings name is set in its
  service's environment (the process's pydantic Settings class, found by importing the service's
  command; for the deploy job, the variables scripts/deploy.py and Ape's network provider read), and
  points at a service of the file on a port its container listens on, at a secret the service mounts or
  into a volume it mounts. The few settings that need not be set are in EXEMPT, each with its reason;
- every service a process reaches is in its depends_on and waited for; long-running services restart,
  one-shot jobs do not;
- ACA-Py posts its webhooks to the service that serves the webhook route, with the key it checks;
- the same services, ports (all on 127.0.0.1), databases, topics and secrets as `make up`.
No Docker engine runs here, so the file is rendered, not run.
"""

import importlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.paths import ROOT, STACK
from tests.support.processsettings import Setting, ape_settings, class_settings, entry_point, load, settings_classes

COMPOSE = ROOT / "docker-compose.yml"
RENDERER_ENV = ROOT / "scripts" / "stack" / "compose" / "renderer.sh"

# Settings a service need not be given, and why. Every other setting named *_host, *_port, *_url, *_uri,
# *_bootstrap, *_file or *_dir (or typed as a path) must be set in the service's environment: its default
# (127.0.0.1, or a file under the host's .state) is wrong inside a container.
EXEMPT = {
    "kafka_port": "only builds kafka_bootstrap's default (127.0.0.1:<port>); kafka_bootstrap is required",
    "ipfs_api_port": "only builds ipfs_api_url's default (http://127.0.0.1:<port>); ipfs_api_url is required",
    "jaeger_otlp_port": "only builds the default traces endpoint (http://127.0.0.1:<port>/v1/traces); every process "
                        "gets OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (x-telemetry-environment)",
    "victorialogs_port": "only builds the default logs endpoint; every process gets OTEL_EXPORTER_OTLP_LOGS_ENDPOINT "
                         "(x-telemetry-environment)",
    "manifest": "defaults to <FITMINT_STATE_DIR>/deployments/<chain id>.json, where the deploy job writes it "
                "(FITMINT_STATE_DIR is required, on the same volume in every process)",
    "sms_sink_file": "the dev SMS provider's sink, default <FITMINT_STATE_DIR>/sms/outbox.jsonl on the state volume",
    "smtp_password_file": "unset means no SMTP login; the dev mail sink takes none",
    "siwe_uri": "what a sign-in message must name: the API as the member's wallet reaches it "
                "(published on 127.0.0.1:8000), not an address between services",
    "public_rpc_url": "the RPC URL GET /chain hints to wallets: the node as they reach it (published on "
                      "127.0.0.1:8545), not an address between services; unset, FITMINT_RPC_URL's",
    "identity_status_base_url": "the public origin verifiers fetch status lists from (published on 127.0.0.1:8000), "
                                "not an address between services; unset, SIWE_URI's",
    "dapp_dir": "the reference dApp's build beside the code (clients/dapp/dist), built into the image",
    "fitmint_operator_key_files": "unset, the operator pool is FITMINT_OPERATOR_KEY_FILE and "
                                  "FITMINT_OPERATOR_POOL_SIZE - 1 keys beside it (on the state volume)",
    "fitmint_attestor_signer_url": "unset, the attestor key file signs (FITMINT_ATTESTOR_KEY_FILE, state volume)",
    "txqueue_signer_url": "unset, the key files sign (TXQUEUE_KEY_FILES, on the state volume)",
    "head_websocket_url": "unset, FITMINT_RPC_URL's ws:// twin (the indexer's newHeads subscription): Anvil serves "
                          "WebSocket on its HTTP port",
    "opa_url": "a unix socket, not a network address: on the volume the api shares with opa "
               "(test_the_api_reaches_opa_over_the_socket_they_share); the worker makes no decisions",
}
DEFAULT_PORTS = {"http": 80, "https": 443}


# --- what each process reads (tests/support/processsettings.py) -------------------------------------

@pytest.fixture(scope="module")
def processes(rendered) -> dict[str, list[Setting]]:
    """For each service built from the project's image: the settings its process reads."""
    entries = {name: entry_point(service) for name, service in rendered["services"].items() if "build" in service}
    classes = settings_classes({target for kind, target, _ in entries.values() if kind == "module"})
    found = {}
    for name, (kind, target, network) in entries.items():
        if kind == "module":
            assert classes[target], f"{name}: {target} loads no Settings class of the project"
            found[name] = [s for path in classes[target] for s in class_settings(load(path))]
        elif kind == "ape":
            found[name] = ape_settings(target, network)
        else:
            found[name] = []
    return found


# --- the rendered file ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def renderer(settings) -> Path:
    """Fails (does not skip) without the renderer: `make test` installs it through `make deps-stack`."""
    out = subprocess.run(["bash", "-c", f"source '{RENDERER_ENV}' && echo \"$COMPOSE_BIN\""], env=settings,
                         capture_output=True, text=True, check=True)
    path = Path(out.stdout.strip())
    assert os.access(path, os.X_OK), (f"Docker Compose (renders docker-compose.yml) is not installed at {path}: "
                                      "`make deps-stack` installs it (scripts/toolchain/install.sh compose)")
    return path


def render(renderer: Path, compose_file: Path, *args: str) -> subprocess.CompletedProcess:
    # A clean environment: no COMPOSE_* variable or shell value of ours changes what is rendered.
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run([str(renderer), "--project-directory", str(ROOT), "-f", str(compose_file), "config", *args],
                          capture_output=True, text=True, env=env, timeout=60)


@pytest.fixture(scope="module")
def rendered(renderer) -> dict:
    result = render(renderer, COMPOSE, "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def stack_ports(settings):
    out = subprocess.run([str(STACK), "ports"], env=settings, capture_output=True, text=True, check=True).stdout
    return {line.split()[0]: [int(p) for p in line.split()[1:]] for line in out.splitlines()}


def container_ports(service: dict) -> set[int]:
    """The ports other services reach this one on: its published targets and what it `expose`s."""
    published = {int(port["target"]) for port in service.get("ports", [])}
    return published | {int(str(entry).split("/")[0]) for entry in service.get("expose", [])}


def mount_of(service: dict, path: str, rendered: dict) -> str | None:
    """Where `path` lives in the service's container: "secret:<name>" or "volume:<name>", else None."""
    for secret in service.get("secrets", []):
        if secret.get("target", f"/run/secrets/{secret['source']}") == path:
            return f"secret:{secret['source']}" if secret["source"] in rendered.get("secrets", {}) else None
    for volume in service.get("volumes", []):
        if volume["type"] == "volume" and PurePosixPath(path).is_relative_to(volume["target"]):
            return f"volume:{volume['source']}"
    return None


def endpoints(setting: Setting, value: str) -> list[tuple[str, int | None]]:
    """(host, port) pairs a URL, bootstrap list or host:port value names; port None for a bare host."""
    if "://" in value:
        parts = urlsplit(value)
        return [(parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme))]
    if setting.kind == "bootstrap":
        return [(entry.rsplit(":", 1)[0], int(entry.rsplit(":", 1)[1])) for entry in value.split(",")]
    return [(value, None)]


def check_process(name: str, settings: list[Setting], rendered: dict) -> tuple[list[str], set[str]]:
    """Problems with what `name`'s process is given, and the services it reaches."""
    services = rendered["services"]
    environment = services[name].get("environment") or {}
    by_key = {s.key: s for s in settings}
    project_processes = [other for other, service in services.items() if "build" in service]
    problems, reached = [], set()

    def reach(setting: Setting, host: str, port: int | None):
        if host not in services:
            problems.append(f"{name}: {setting.env}={environment[setting.env]!r} names no service of the file")
            return
        reached.add(host)
        listening = container_ports(services[host])
        if port is not None and port not in listening:
            problems.append(f"{name}: {setting.env} uses port {port}, but {host} listens on {sorted(listening)}")

    for setting in settings:
        # A host or port named after a process of ours (INDEXER_METRICS_HOST, WORKER_METRICS_PORT) is where
        # that process listens: its own to set, nobody else's (the api shares the worker's Settings class).
        listener_of = next((p for p in project_processes if setting.key.startswith(f"{p}_")), None)
        if setting.key in EXEMPT or (setting.kind in ("host", "port") and listener_of not in (None, name)):
            continue
        if setting.env not in environment:
            problems.append(f"{name}: {setting.env} is not set ({setting.origin}; its default is wrong here)")
            continue
        value = str(environment[setting.env])
        own = listener_of == name
        if setting.kind == "host" and own:
            if value != "0.0.0.0":
                problems.append(f"{name}: {setting.env}={value!r}: a listener must bind 0.0.0.0 in a container")
        elif setting.kind == "port" and own:
            if int(value) not in container_ports(services[name]):
                problems.append(f"{name}: {setting.env}={value} is not a port the service publishes or exposes")
        elif setting.kind in ("url", "bootstrap", "host"):
            stem = setting.key.rsplit("_", 1)[0]
            port_setting = by_key.get(f"{stem}_port") if setting.kind == "host" and "://" not in value else None
            for host, port in endpoints(setting, value):
                if port_setting is not None:
                    port = int(environment.get(port_setting.env, 0)) or None  # unset: reported on its own
                reach(setting, host, port)
        elif setting.kind == "port":
            if f"{setting.key.rsplit('_', 1)[0]}_host" not in by_key:
                problems.append(f"{name}: {setting.env} is a port with no host setting: exempt it with a reason")
        elif setting.kind in ("file", "dir"):
            paths = json.loads(value) if value.startswith("[") else [value]  # a list of files is JSON
            for path in paths:
                if not PurePosixPath(path).is_absolute() or mount_of(services[name], path, rendered) is None:
                    problems.append(f"{name}: {setting.env} names {path!r}: neither a declared secret it mounts "
                                    "nor in a volume it mounts")
    return problems, reached


# --- the renderer -----------------------------------------------------------------------------------

def test_compose_renders_the_file_without_a_warning(renderer):
    result = render(renderer, COMPOSE, "--quiet")
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


# --- settings, derived from the code ----------------------------------------------------------------

def test_every_setting_a_process_reads_is_provided_and_points_at_the_right_place(rendered, processes):
    problems = [p for name, settings in processes.items() for p in check_process(name, settings, rendered)[0]]
    assert not problems, "\n".join(problems)


def test_the_derivation_finds_each_process_settings(processes):
    """Guards the derivation itself: the classes and scripts are found, and EXEMPT names real settings."""
    keys = {name: {s.env for s in settings} for name, settings in processes.items()}
    assert {"FITMINT_RPC_URL", "POSTGRES_HOST", "KAFKA_BOOTSTRAP", "INDEXER_METRICS_PORT"} <= keys["indexer"]
    assert {"REDIS_HOST", "IPFS_API_URL", "ACAPY_ADMIN_URL", "ACAPY_ADMIN_KEY_FILE", "SMTP_HOST"} <= keys["api"]
    assert keys["worker"] == keys["api"]  # one Settings class
    assert {"APE_FOUNDRY_HOST", "FITMINT_STATE_DIR", "FITMINT_ATTESTOR_KEY_FILE",
            "FITMINT_OPERATOR_KEY_FILE"} <= keys["deploy"]
    assert keys["mail"] == set()  # aiosmtpd: configured by its command line
    every = {s.key for settings in processes.values() for s in settings}
    assert set(EXEMPT) <= every, f"EXEMPT names settings no process has: {set(EXEMPT) - every}"


def test_processes_share_their_state_and_keys(rendered, processes):
    """A file or folder several processes name (the state folder, the attestor and operator keys the deploy
    job grants roles to and the API signs with) is the same path on the same volume or secret in each."""
    places = {}
    for name, settings in processes.items():
        environment = rendered["services"][name].get("environment") or {}
        for setting in settings:
            if setting.kind in ("file", "dir") and setting.env in environment:
                path = environment[setting.env]
                place = (path, mount_of(rendered["services"][name], path, rendered))
                places.setdefault(setting.env, set()).add(place)
    assert {"FITMINT_STATE_DIR", "FITMINT_ATTESTOR_KEY_FILE", "FITMINT_OPERATOR_KEY_FILE"} <= set(places)
    for env, seen in places.items():
        assert len(seen) == 1, f"{env} differs between processes: {sorted(seen, key=str)}"


def test_every_service_a_process_reaches_is_waited_for(rendered, processes):
    services = rendered["services"]
    for name, settings in processes.items():
        reached = check_process(name, settings, rendered)[1]
        waits_for = set(services[name].get("depends_on", {}))
        assert reached <= waits_for, f"{name} reaches {sorted(reached - waits_for)} without depends_on"
    assert {"ipfs", "acapy"} <= set(services["api"]["depends_on"])


def test_the_api_reaches_opa_over_the_socket_they_share(rendered):
    """OPA's data API can change the policy: it is served on a unix socket in a volume only OPA and the API
    mount, never on the network; the API waits for OPA."""
    services = rendered["services"]
    socket = PurePosixPath(services["api"]["environment"]["OPA_URL"].removeprefix("unix://"))
    command = services["opa"]["command"]
    assert command[command.index("--addr") + 1] == f"unix://{socket}" and command.count("--addr") == 1
    assert mount_of(services["api"], str(socket), rendered) == mount_of(services["opa"], str(socket), rendered)
    volume = mount_of(services["opa"], str(socket), rendered)
    assert volume and {name for name, service in services.items()
                       if any(v.get("source") == volume.removeprefix("volume:") for v in service.get("volumes", []))
                       } == {"opa", "api"}
    assert services["api"]["depends_on"]["opa"]["condition"] == "service_healthy"


def test_acapy_webhooks_go_to_the_service_that_serves_them_with_the_key_it_checks(rendered):
    services = rendered["services"]
    acapy = services["acapy"]
    script = " ".join(acapy["command"]).replace("$$", "$")
    assert acapy.get("entrypoint") == ["/bin/bash", "-c"]
    *exports, start = script.split(" && ")
    args = shlex.split(start)
    assert args[:3] == ["exec", "aca-py", "start"]
    # The keys are ACA-Py's environment variables, never its arguments (`ps` shows those to every user).
    assert not {"--admin-api-key", "--wallet-key", "--webhook-url"} & set(args) and "$" not in start
    variables = dict(word.split("=", 1) for part in exports for word in shlex.split(part) if word != "export")
    assert {"ACAPY_ADMIN_API_KEY", "ACAPY_WALLET_KEY", "ACAPY_WEBHOOK_URL"} <= set(variables)
    webhook = urlsplit(variables["ACAPY_WEBHOOK_URL"])
    target = services.get(webhook.hostname)
    assert target is not None, f"ACA-Py posts webhooks to {webhook.hostname!r}: not a service of the file"
    assert webhook.port in container_ports(target), f"{webhook.hostname} does not listen on {webhook.port}"
    app_path = next(a for a in target["command"] if re.fullmatch(r"[\w.]+:\w+", a))
    module, attribute = app_path.split(":")
    app = getattr(importlib.import_module(module), attribute)
    if "--factory" in target["command"]:  # serve() sets up the process's telemetry, then create_app(): the
        app = importlib.import_module(module).app  # module's plain create_app() has the same routes
    topic_route = f"{webhook.path}/topic/{{topic}}/"  # ACA-Py posts to <webhook url>/topic/<topic>/
    assert "post" in app.openapi()["paths"].get(topic_route, {}), \
        f"{webhook.hostname} ({app_path}) serves no POST {topic_route}"

    # The key after '#' (sent as X-API-Key) and the admin API key are the secret the controllers read.
    def secret_read_by(text: str) -> str:
        return mount_of(acapy, re.search(r"cat (\S+?)\)", text).group(1), rendered)
    admin_key = secret_read_by(variables["ACAPY_ADMIN_API_KEY"])
    assert admin_key and webhook.fragment == "$ACAPY_ADMIN_API_KEY"
    assert secret_read_by(variables["ACAPY_WALLET_KEY"]) == "secret:acapy-wallet-key"
    for name, service in services.items():
        environment = service.get("environment") or {}
        if "ACAPY_ADMIN_URL" in environment:
            assert mount_of(service, environment.get("ACAPY_ADMIN_KEY_FILE", ""), rendered) == admin_key, name


def test_the_api_believes_no_forwarded_header_unless_told_to(rendered):
    """uvicorn's default believes X-Forwarded-For from 127.0.0.1 (any process sharing the host or container),
    so a client would pick its own address for the per-IP limits: the API runs with --no-proxy-headers here
    and in `make up`, and takes its proxies from TRUSTED_PROXIES alone (backend/app/core/config.py)."""
    assert "--no-proxy-headers" in rendered["services"]["api"]["command"]
    api_argv = re.search(r"^api_argv\(\) \{\n(.*?)^\}", STACK.read_text(), re.M | re.S).group(1)
    assert "--no-proxy-headers" in api_argv


# --- the same topology as `make up` -----------------------------------------------------------------

def test_long_running_services_are_make_ups_and_restart_one_shot_jobs_do_not(rendered, stack_ports):
    services = rendered["services"]
    long_running = set(stack_ports)
    assert long_running <= set(services), f"missing from docker-compose.yml: {long_running - set(services)}"
    for name, service in services.items():
        if name in long_running:
            assert service.get("restart") in ("always", "unless-stopped", "on-failure"), f"{name}: no restart policy"
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        else:
            assert service.get("restart") == "no", f"{name} is not run by `make up`: a one-shot job, restart \"no\""
            assert any(name in s.get("depends_on", {}) for s in services.values()), f"one-shot {name}: nobody waits"


def test_dependencies_wait_for_health_or_completion(rendered, stack_ports):
    services = rendered["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            expected = "service_healthy" if dependency in stack_ports else "service_completed_successfully"
            assert rule["condition"] == expected, f"{name} -> {dependency}"


def test_same_ports_all_on_loopback(rendered, stack_ports):
    for name, ports in stack_ports.items():
        bindings = [(p.get("host_ip"), int(p["published"])) for p in rendered["services"][name].get("ports", [])]
        assert all(ip == "127.0.0.1" for ip, _ in bindings), name
        assert sorted(port for _, port in bindings) == sorted(ports), name


def test_same_databases_and_topics_as_make_up(rendered, settings):
    sql = (ROOT / "scripts" / "stack" / "compose" / "postgres-databases.sql").read_text()
    assert re.findall(r"CREATE DATABASE (\w+);", sql) == settings["POSTGRES_DATABASES"].split()
    script = rendered["services"]["kafka-topics"]["command"][0]
    topics = re.search(r"for topic in (.*?); do", script).group(1).split()
    assert topics == settings["KAFKA_TOPICS"].split()
    # ... and exactly the topics the code publishes to (the indexer's and the API's outboxes): none is
    # missing, and none is left over from an event the bus no longer carries.
    from fitmint import events as ev
    assert sorted(topics) == ev.ALL_TOPICS
    assert f"--partitions {settings['KAFKA_PARTITIONS']}" in script


def test_secrets_are_the_files_stack_sh_secrets_creates_outside_git(rendered, tmp_path):
    state = tmp_path / "state"  # a throwaway state folder: the stack's own secrets are not touched
    subprocess.run([str(STACK), "secrets"], env={**os.environ, "FITMINT_STATE_DIR": str(state)},
                   capture_output=True, check=True)
    created = {path.name for path in (state / "secrets").iterdir()}
    for name, secret in rendered["secrets"].items():
        path = Path(secret["file"])
        assert path.parent == ROOT / ".state" / "secrets", name
        assert path.name in created, f"{name}: `scripts/stack/stack.sh secrets` does not create {path.name}"
    ignored = subprocess.run(["git", "check-ignore", ".state/secrets/x"], cwd=ROOT, capture_output=True)
    assert ignored.returncode == 0, ".state/ must be git-ignored"


@pytest.mark.parametrize("breakage, message", [
    (lambda f: f["services"]["redis"].update(ports="6379"), "services.redis.ports must be a array"),
    (lambda f: f["services"]["api"]["depends_on"].update(ipfs2={"condition": "service_healthy"}),
     'depends on undefined service "ipfs2"'),
    (lambda f: f["services"]["api"]["secrets"].append("no-such-secret"), "undefined secret no-such-secret"),
], ids=["schema", "undefined-service", "undeclared-secret"])
def test_compose_rejects_a_broken_file(renderer, tmp_path, breakage, message):
    broken = yaml.safe_load(COMPOSE.read_text())
    breakage(broken)
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    result = render(renderer, tmp_path / "docker-compose.yml", "--quiet")
    assert result.returncode != 0 and message in result.stderr, result.stderr


def test_prometheus_scrapes_every_process_of_the_file_at_its_container_port(rendered, stack_ports):
    from scripts.stack.prometheus_config import COMPOSE_TARGETS, render

    mounted = ROOT / "ops" / "prometheus" / "prometheus.compose.yml"
    assert mounted.read_text() == render(compose=True), \
        "stale: run python -m scripts.stack.prometheus_config --compose ops/prometheus/prometheus.compose.yml"
    services = rendered["services"]
    for job, target in COMPOSE_TARGETS.items():
        host, port = target.split(":")
        if host != "localhost":
            assert host in services and int(port) in container_ports(services[host]), f"{job}: {target}"
    assert set(COMPOSE_TARGETS) == set(stack_ports) - {"anvil", "postgres", "redis", "kafka", "ipfs", "mail", "acapy"}

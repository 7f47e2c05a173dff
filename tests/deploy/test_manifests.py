"""The offline schema validator (scripts/kube/validate.py) on hand-written objects, good and bad, and on what we ship:
every rendered value set of the chart and the Argo CD Application.

The schemas are the real ones: Kubernetes 1.31 from kubernetes-validate, the Istio, Argo CD and Prometheus Operator
CRDs that `scripts/toolchain/install.sh k8s-schemas` downloads and the Litmus checker it builds (a missing one fails
here with that hint).
"""

import kubernetes_validate
import pytest
import yaml

from scripts.kube import render
from scripts.kube.validate import Validator, default_crd_files, default_validator, main, validate_text
from tests.support.paths import ROOT

ARGOCD_APPLICATION = ROOT / "deploy" / "argocd" / "fitmint.yaml"


@pytest.fixture(scope="module")
def validator() -> Validator:
    return default_validator()


def problems(validator: Validator, obj: dict) -> list[tuple[str, str]]:
    return list(validator.problems(obj))


def deployment(**container) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "fitmint"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "api"}},
            "template": {
                "metadata": {"labels": {"app": "api"}},
                "spec": {"containers": [{"name": "api", "image": "ghcr.io/fitmint/fitmint:1", **container}]},
            },
        },
    }


def istio(kind: str, spec: dict, api_version: str | None = None) -> dict:
    group = {"PeerAuthentication": "security", "AuthorizationPolicy": "security"}.get(kind, "networking")
    return {
        "apiVersion": api_version or f"{group}.istio.io/v1",
        "kind": kind,
        "metadata": {"name": "api", "namespace": "fitmint"},
        "spec": spec,
    }


def argocd_application() -> dict:
    return yaml.safe_load(ARGOCD_APPLICATION.read_text())


GOOD_ISTIO = [
    istio("PeerAuthentication", {"mtls": {"mode": "STRICT"}}),
    istio(
        "AuthorizationPolicy",
        {
            "selector": {"matchLabels": {"app.kubernetes.io/component": "api"}},
            "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/fitmint/sa/fitmint-worker"]}}],
                       "to": [{"operation": {"ports": ["8000"], "methods": ["GET", "POST"]}}]}],
        },
    ),
    istio(
        "DestinationRule",
        {
            "host": "fitmint-api.fitmint.svc.cluster.local",
            "trafficPolicy": {
                "connectionPool": {"http": {"maxRetries": 2}},
                "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"},
            },
        },
    ),
]


@pytest.mark.parametrize("obj", [deployment(), *GOOD_ISTIO], ids=lambda o: o["kind"])
def test_a_correct_object_validates(validator, obj):
    assert problems(validator, obj) == []


def test_an_unknown_field_is_named_by_its_path(validator):
    found = problems(validator, deployment(imagePullPolicyy="Always"))
    assert found == [("spec.template.spec.containers[0].imagePullPolicyy", "unknown field (not in the schema)")]


def test_a_wrong_type_is_named_by_its_path(validator):
    obj = deployment(ports=[{"containerPort": "8000"}])
    obj["spec"]["replicas"] = "2"
    found = dict(problems(validator, obj))
    assert set(found) == {"spec.replicas", "spec.template.spec.containers[0].ports[0].containerPort"}
    assert found["spec.replicas"].startswith("expected integer")
    assert 'got string "2"' in found["spec.replicas"]


def test_a_missing_required_field_is_reported(validator):
    obj = deployment()
    del obj["spec"]["template"]["spec"]["containers"][0]["name"]
    assert problems(validator, obj) == [("spec.template.spec.containers[0]", "'name' is a required property")]


@pytest.mark.parametrize(
    "obj",
    [deployment(), deployment(imagePullPolicyy="Always"), deployment(ports=[{"containerPort": "80"}]),
     {**deployment(), "spec": {"replicas": 1}}],
    ids=["good", "unknown-field", "wrong-type", "missing-required"],
)
def test_built_in_kinds_are_judged_as_kubernetes_validate_strict_judges_them(validator, obj):
    try:
        kubernetes_validate.validate(obj, render.KUBE_VERSION, strict=True)
        expected = []
    except kubernetes_validate.ValidationError as exc:  # it stops at the first problem
        expected = [".".join(str(part) for part in exc.path)]
    found = [path.replace("[", ".").replace("]", "") for path, _ in problems(validator, obj)]
    # Same verdict, at the same place (it names an unknown field's parent, we name the field).
    assert bool(found) == bool(expected), (found, expected)
    assert all(any(path.startswith(where) for path in found) for where in expected), (found, expected)


def test_a_kind_without_a_schema_is_refused(validator):
    found = problems(validator, {"apiVersion": "example.com/v1", "kind": "Frobnicator", "metadata": {"name": "x"}})
    assert len(found) == 1
    assert found[0][0] == ""
    assert "no schema for Frobnicator (example.com/v1)" in found[0][1]
    assert "refusing" in found[0][1]


def test_a_built_in_kind_under_a_wrong_api_version_is_refused(validator):
    # extensions/v1beta1 Deployments were removed in Kubernetes 1.16.
    obj = {**deployment(), "apiVersion": "extensions/v1beta1"}
    assert "no schema for Deployment (extensions/v1beta1)" in problems(validator, obj)[0][1]


def test_a_version_the_crd_does_not_serve_is_refused(validator):
    found = problems(validator, istio("DestinationRule", {"host": "api"}, api_version="networking.istio.io/v2"))
    assert found == [("", "networking.istio.io/v2 is not a served version of DestinationRule "
                          "(served: v1, v1alpha3, v1beta1)")]


@pytest.mark.parametrize(
    "obj, path, message",
    [
        (istio("PeerAuthentication", {"mtls": {"mode": "STRICTEST"}}), "spec.mtls.mode", '"STRICTEST" is not one of'),
        (
            istio("AuthorizationPolicy", {"rules": [{"from": [{"source": {"principal": ["x"]}}]}]}),
            "spec.rules[0].from[0].source.principal",
            "unknown field",
        ),
        (istio("AuthorizationPolicy", {"action": "PERMIT"}), "spec.action", '"PERMIT" is not one of'),
        (
            istio("DestinationRule", {"host": "api",
                                      "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": "5"}}}),
            "spec.trafficPolicy.outlierDetection.consecutive5xxErrors",
            "expected integer",
        ),
        (
            # Retries belong to a VirtualService's routes, not to a DestinationRule.
            istio("DestinationRule", {"host": "api", "trafficPolicy": {"retries": {"attempts": 3}}}),
            "spec.trafficPolicy.retries",
            "unknown field",
        ),
        (istio("DestinationRule", {"trafficPolicy": {}}), "spec", "'host' is a required property"),
    ],
    ids=["peer-mode", "authz-field", "authz-action", "dr-type", "dr-retries", "dr-required"],
)
def test_a_bad_istio_object_is_caught_at_its_path(validator, obj, path, message):
    found = problems(validator, obj)
    assert any(p == path and message in m for p, m in found), found


def test_custom_kinds_metadata_is_checked_as_object_meta(validator):
    obj = istio("PeerAuthentication", {"mtls": {"mode": "STRICT"}})
    obj["metadata"]["label"] = {"app": "api"}
    obj["metadata"]["annotations"] = {"replicas": 3}
    found = dict(problems(validator, obj))
    assert found["metadata.label"] == "unknown field (not in the schema)"
    assert found["metadata.annotations.replicas"].startswith("expected string")


@pytest.mark.parametrize(
    "change, path, message",
    [
        (lambda app: app["spec"]["syncPolicy"]["automated"].update(prunee=True), "spec.syncPolicy.automated.prunee",
         "unknown field"),
        (lambda app: app["spec"]["syncPolicy"]["retry"].update(limit="five"), "spec.syncPolicy.retry.limit",
         "expected integer"),
        (lambda app: app["spec"].pop("destination"), "spec", "'destination' is a required property"),
        (lambda app: app["spec"]["source"]["helm"].update(valueFile="x.yaml"), "spec.source.helm.valueFile",
         "unknown field"),
    ],
    ids=["unknown-field", "wrong-type", "missing-destination", "helm-field"],
)
def test_a_bad_argocd_application_is_caught_at_its_path(validator, change, path, message):
    app = argocd_application()
    change(app)
    found = problems(validator, app)
    assert any(p == path and message in m for p, m in found), found


def test_a_bad_service_monitor_is_caught(validator):
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "fitmint"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "endpoints": [{"port": "metrics", "interval": "15s"}]},
    }
    assert problems(validator, monitor) == []
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    assert problems(validator, monitor) == [("spec.endpoints[0].intervall", "unknown field (not in the schema)")]


def chaos_engine(**spec) -> dict:
    return {
        "apiVersion": "litmuschaos.io/v1alpha1",
        "kind": "ChaosEngine",
        "metadata": {"name": "api-pod-delete", "namespace": "fitmint"},
        "spec": {
            "engineState": "active",
            "appinfo": {"appns": "fitmint", "applabel": "app.kubernetes.io/component=api", "appkind": "deployment"},
            "chaosServiceAccount": "fitmint-chaos",
            "experiments": [{"name": "pod-delete", "spec": {"components": {"env": [
                {"name": "TOTAL_CHAOS_DURATION", "value": "30"}]}}}],
            **spec,
        },
    }


def chaos_experiment(**definition) -> dict:
    return {
        "apiVersion": "litmuschaos.io/v1alpha1",
        "kind": "ChaosExperiment",
        "metadata": {"name": "pod-delete", "namespace": "fitmint"},
        "spec": {"definition": {
            "scope": "Namespaced",
            "image": "litmuschaos/go-runner:3.10.0",
            "command": ["/bin/bash"],
            "args": ["-c", "./experiments -name pod-delete"],
            "permissions": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete", "get", "list"]}],
            "env": [{"name": "TOTAL_CHAOS_DURATION", "value": "15"}],
            **definition,
        }},
    }


def test_correct_litmus_objects_validate(validator):
    assert problems(validator, chaos_engine()) == []
    assert problems(validator, chaos_experiment()) == []


@pytest.mark.parametrize(
    "obj, path, message",
    [
        (chaos_engine(experiment=[]), "spec.experiment", "unknown field"),
        (chaos_engine(appinfo={"appns": 1}), "spec.appinfo.appns", "invalid type: integer `1`, expected a string"),
        (chaos_experiment(imagee="x"), "spec.definition.imagee", "unknown field"),
        (chaos_experiment(permissions=[{"verbs": "get"}]), "spec.definition.permissions[0].verbs",
         'invalid type: string "get", expected a sequence'),
        ({**chaos_engine(), "metadata": {"name": "x", "label": {}}}, "metadata.label", "unknown field"),
    ],
    ids=["engine-field", "engine-type", "experiment-field", "experiment-type", "metadata"],
)
def test_a_bad_litmus_object_is_caught_at_its_path(validator, obj, path, message):
    found = problems(validator, obj)
    assert any(p == path and message in m for p, m in found), found


def test_a_file_reports_each_object_duplicates_and_non_objects(validator):
    text = "\n---\n".join(
        [
            "# Source: only a comment",
            yaml.safe_dump(deployment()),
            yaml.safe_dump(deployment()),
            yaml.safe_dump(istio("PeerAuthentication", {"mtls": {"mode": "OFF"}})),
            "- not an object",
        ]
    )
    count, found = validate_text(text, "set.yaml", validator)
    assert count == 4
    assert [str(p) for p in found] == [
        "set.yaml: Deployment/api: (object): duplicate object (same apiVersion, kind, namespace, name)",
        'set.yaml: PeerAuthentication/api: spec.mtls.mode: "OFF" is not one of '
        '["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]',
        f"set.yaml: document at line {text.splitlines().index('- not an object') + 1}: (object): "
        "not a Kubernetes object: apiVersion and kind (strings) are required",
    ]


def test_broken_yaml_is_one_clear_problem(validator):
    count, found = validate_text("kind: Service\nmetadata: {name: [x\n", "bad.yaml", validator)
    assert count == 0
    assert len(found) == 1 and str(found[0]).startswith("bad.yaml: YAML: (object): while parsing")


def test_the_command_prints_one_line_per_problem_and_fails(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump_all([deployment(imagePullPolicyy="Always"), istio("DestinationRule", {})]))
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(deployment()))
    assert main([str(good), str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{bad}: Deployment/api: spec.template.spec.containers[0].imagePullPolicyy: unknown field (not in the schema)",
        f"{bad}: DestinationRule/api: spec: 'host' is a required property",
        f"validate: 3 object(s) in 2 file(s) against Kubernetes {render.KUBE_VERSION} and "
        f"{len(default_crd_files())} CRD file(s) + Litmus: 2 problem(s)",
    ]
    assert main([str(good)]) == 0


def test_the_command_refuses_a_missing_crd_file(tmp_path, capsys):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(yaml.safe_dump(deployment()))
    assert main(["--crd", str(tmp_path / "absent.yaml"), str(manifest)]) == 2
    assert "install.sh k8s-schemas" in capsys.readouterr().err


@pytest.mark.parametrize("value_set", sorted(render.value_sets()))
def test_every_rendered_value_set_validates(validator, value_set):
    objects = render.render_set(value_set)
    assert objects, f"value set {value_set} rendered nothing"
    count, found = validate_text(yaml.safe_dump_all(objects), f"{value_set}.yaml", validator)
    assert count == len(objects)
    assert [str(p) for p in found] == []


def test_the_argocd_application_validates_and_deploys_our_chart(validator):
    app = argocd_application()
    assert problems(validator, app) == []
    source = app["spec"]["source"]
    assert ROOT / source["path"] == render.CHART
    assert source["helm"]["releaseName"] == render.RELEASE
    assert source["helm"]["kubeVersion"] == render.KUBE_VERSION
    for values_file in source["helm"]["valueFiles"]:
        assert (render.CHART / values_file).is_file(), values_file
    assert app["spec"]["destination"]["namespace"] == render.NAMESPACE
    sync = app["spec"]["syncPolicy"]
    assert sync["automated"] == {"prune": True, "selfHeal": True, "allowEmpty": False}
    assert {"CreateNamespace=true", "ServerSideApply=true"} <= set(sync["syncOptions"])


"""charts/btc-volatility: lint, render, validate every document, cross-check."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from ml.settings import Settings
from serving.model_repo import XGBOOST_RUNTIME
from tests.k8s.conftest import CHART, STORAGE_URI, VALUE_SETS, schema_errors

VALUE_SET_NAMES = sorted(VALUE_SETS)


def _pods(docs):
    """(doc, pod spec, containers) for every workload, including KServe components."""
    for doc in docs:
        kind = doc["kind"]
        if kind in ("Deployment", "Job"):
            spec = doc["spec"]["template"]["spec"]
            yield doc, spec, spec["containers"]
        elif kind == "InferenceService":
            for comp in ("predictor", "transformer"):
                if comp in doc["spec"]:
                    c = doc["spec"][comp]
                    yield (
                        doc,
                        c,
                        c.get("containers", [])
                        + ([c["model"]] if "model" in c else []),
                    )
        elif kind == "ServingRuntime":
            yield doc, doc["spec"], doc["spec"]["containers"]


@pytest.mark.parametrize("name", VALUE_SET_NAMES)
def test_helm_lint_strict(helm, name):
    proc = subprocess.run(
        [str(helm), "lint", "--strict", str(CHART), *VALUE_SETS[name]],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", VALUE_SET_NAMES)
def test_every_rendered_document_validates(render, name):
    docs = render(name)
    assert docs
    errors = {f"{d['kind']}/{d['metadata']['name']}": schema_errors(d) for d in docs}
    assert {k: v for k, v in errors.items() if v} == {}


def test_value_sets_render_expected_kinds(render):
    kinds = {n: sorted({d["kind"] for d in render(n)}) for n in VALUE_SET_NAMES}
    assert "InferenceService" not in kinds["default"]
    assert "ServingRuntime" in kinds["default"]
    assert {"InferenceService", "Ingress"} <= set(kinds["eks"])
    assert {"Job", "InferenceService"} <= set(kinds["kind-isvc"])
    names = {d["metadata"]["name"] for d in render("kind")}
    # values-kind.yaml and k8s/install.sh hard-code these service names.
    assert {
        "bvp-btc-volatility-minio",
        "bvp-btc-volatility-postgresql",
        "bvp-btc-volatility-mlflow",
        "bvp-btc-volatility-ui",
    } <= names


@pytest.mark.parametrize("name", VALUE_SET_NAMES)
def test_every_container_is_non_root_read_only_with_limits(render, name):
    seen = 0
    for doc, pod, containers in _pods(render(name)):
        pod_ctx = pod.get("securityContext", {})
        for c in containers:
            seen += 1
            where = f"{doc['kind']}/{doc['metadata']['name']}/{c.get('name', 'model')}"
            ctx = c.get("securityContext", {})
            assert ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot"), where
            assert ctx.get("readOnlyRootFilesystem") is True, where
            assert ctx.get("allowPrivilegeEscalation") is False, where
            assert ctx["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(c["resources"]["limits"]), where
            image = c.get("image")
            if image:
                assert not image.endswith(":latest") and ":" in image, where
    assert seen


def test_inference_service_contract(render):
    (isvc,) = [d for d in render("kind-isvc") if d["kind"] == "InferenceService"]
    model = isvc["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "xgboost"
    assert model["protocolVersion"] == "v2"
    assert model["storageUri"] == STORAGE_URI
    assert model["storageUri"].startswith(("s3://", "gs://"))
    assert (
        isvc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"]
        == "Standard"
    )
    (runtime,) = [d for d in render("kind-isvc") if d["kind"] == "ServingRuntime"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert runtime["spec"]["protocolVersions"] == ["v2"]
    assert {"name": "xgboost", "version": model["modelFormat"]["version"]}.items() <= (
        runtime["spec"]["supportedModelFormats"][0].items()
    )


def test_ports_match_settings_defaults(render):
    s = Settings()
    docs = render("kind-isvc")
    (runtime,) = [d for d in docs if d["kind"] == "ServingRuntime"]
    env = {e["name"]: e["value"] for e in runtime["spec"]["containers"][0]["env"]}
    assert env["MLSERVER_HTTP_PORT"] == str(s.serving.http_port)
    assert env["MLSERVER_GRPC_PORT"] == str(s.serving.grpc_port)
    assert env["MLSERVER_METRICS_PORT"] == str(s.serving.metrics_port)
    # The validating runtime the local repository uses, shipped in the bvp-serving image.
    assert env["MLSERVER_MODEL_IMPLEMENTATION"] == XGBOOST_RUNTIME
    assert env["MLSERVER_MODEL_NAME"] == s.mlflow.model_name
    (isvc,) = [d for d in docs if d["kind"] == "InferenceService"]
    (tr,) = isvc["spec"]["transformer"]["containers"]
    args = dict(zip(tr["args"][::2], tr["args"][1::2], strict=True))
    assert args["--http_port"] == str(s.transformer.http_port)
    assert args["--grpc_port"] == str(s.transformer.grpc_port)
    assert args["--model_name"] == s.mlflow.model_name
    assert tr["ports"][0]["containerPort"] == s.transformer.http_port
    (ui,) = [
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-ui")
    ]
    c = ui["spec"]["template"]["spec"]["containers"][0]
    uienv = {e["name"]: e.get("value") for e in c["env"]}
    assert c["ports"][0]["containerPort"] == s.ui.port == int(uienv["BVP_UI__PORT"])
    assert (
        uienv["BVP_UI__SERVER_URL"]
        == "http://btc-volatility-transformer.bvp.svc.cluster.local"
    )
    # The BVP_ variables the chart sets parse into the same settings (extra="forbid").
    parsed = _settings_from_env(
        {k: v for k, v in uienv.items() if k.startswith("BVP_")}
    )
    assert parsed.ui.port == s.ui.port
    assert parsed.ui.server_url == uienv["BVP_UI__SERVER_URL"]


def _settings_from_env(env):
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, env, clear=False):
        return Settings()


def test_eks_values_ha_ui_has_sticky_sessions_and_root_path(render):
    docs = render("eks")
    (svc,) = [
        d
        for d in docs
        if d["kind"] == "Service" and d["metadata"]["name"].endswith("-ui")
    ]
    assert svc["spec"]["sessionAffinity"] == "ClientIP"
    (ing,) = [d for d in docs if d["kind"] == "Ingress"]
    assert (
        ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/affinity"]
        == "cookie"
    )
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/btc"
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert "eks.amazonaws.com/role-arn" in sa["metadata"]["annotations"]
    assert "secrets" not in sa


def test_kind_values_wire_kserve_s3_to_minio(render):
    docs = render("kind")
    (sa,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    ann = sa["metadata"]["annotations"]
    assert ann["serving.kserve.io/s3-endpoint"] == "bvp-btc-volatility-minio.bvp:9000"
    assert ann["serving.kserve.io/s3-usehttps"] == "0"
    assert sa["secrets"] == [{"name": "bvp-s3"}]
    assert not any(d["kind"] == "Secret" for d in docs), "secrets only by reference"


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/btc-volatility@champion", "cannot resolve models:/"),
        ("file:///tmp/model", "expected a URI starting with s3:// or gs://"),
        ("", "inferenceService.storageUri is empty"),
    ],
    ids=["registry-alias", "file", "empty"],
)
def test_storage_uri_outside_s3_gs_fails_rendering(helm, uri, message):
    proc = subprocess.run(
        [
            str(helm),
            "template",
            "bvp",
            str(CHART),
            "-f",
            str(CHART / "values-eks.yaml"),
            "--set-string",
            f"inferenceService.storageUri={uri}",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    assert message in proc.stderr


def test_values_comments_start_with_key_name():
    """Style 12: each key's comment starts with its (dotted) name."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-")) or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip())
        key = stripped.split(":", 1)[0]
        stack = [(n, k) for n, k in stack if n < indent]
        if indent in (0, 2, 4, 6) and not key.startswith(
            ("requests", "limits", "type")
        ):
            dotted = ".".join([k for _, k in stack] + [key])
            prev = lines[i - 1].strip()
            if (
                not any(
                    dotted.startswith(p)
                    for p in ("podSecurityContext.", "securityContext.")
                )
                and ".resources" not in dotted
                and "Resources" not in dotted
            ):
                assert prev.startswith(f"# {dotted} -- "), f"line {i + 1}: {dotted}"
        stack.append((indent, key))


def test_values_schema_has_no_remote_refs():
    text = (CHART / "values.schema.json").read_text()
    assert '"$ref"' not in text
    assert yaml.safe_load(text)["additionalProperties"] is False

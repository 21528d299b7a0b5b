"""skaffold.yaml and the kind config: schema-valid and consistent with the chart."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.k8s.conftest import CHART, ROOT, SCHEMAS, validator

SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
RELEASE = SKAFFOLD["deploy"]["helm"]["releases"][0]


def test_skaffold_yaml_validates_against_v4beta13():
    assert SKAFFOLD["apiVersion"] == "skaffold/v4beta13"
    errors = [
        e.message
        for e in validator("skaffold/skaffold-v4beta13.json", False).iter_errors(
            SKAFFOLD
        )
    ]
    assert errors == []


def test_skaffold_builds_four_images_from_existing_dockerfiles():
    arts = {
        a["image"]: a["docker"]["dockerfile"] for a in SKAFFOLD["build"]["artifacts"]
    }
    assert set(arts) == {"bvp-serving", "bvp-transformer", "bvp-ui", "bvp-pipeline"}
    for dockerfile in arts.values():
        assert (ROOT / dockerfile).is_file(), dockerfile
    assert SKAFFOLD["build"]["platforms"] == ["linux/amd64"]


def _get(values, dotted):
    node = values
    for part in dotted.split("."):
        node = node[part]
    return node


def test_skaffold_images_are_the_chart_images():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    templates = RELEASE["setValueTemplates"]
    built = {a["image"] for a in SKAFFOLD["build"]["artifacts"]}
    used = set()
    for key, tmpl in templates.items():
        m = re.fullmatch(r"\{\{\.IMAGE_(REPO|TAG)_(\w+)\}\}", tmpl)
        if not m:
            continue
        image = m.group(2).replace("_", "-")
        used.add(image)
        _get(values, key)  # the key exists in values.yaml
        if m.group(1) == "REPO":
            # The chart's default repository names the same image (registry aside).
            assert _get(values, key).rsplit("/", 1)[-1] == image, key
            assert key.replace("repository", "tag") in templates
    assert used == built


def test_skaffold_deploys_chart_with_kind_values_and_forwards_ui():
    assert RELEASE["chartPath"] == "charts/btc-volatility"
    assert RELEASE["valuesFiles"] == ["charts/btc-volatility/values-kind.yaml"]
    (fwd,) = SKAFFOLD["portForward"]
    assert fwd["resourceName"] == f"{RELEASE['name']}-btc-volatility-ui"
    assert fwd["localPort"] == 7860
    profiles = {p["name"]: p for p in SKAFFOLD["profiles"]}
    assert set(profiles) == {"kind", "eks"}
    assert profiles["kind"]["activation"] == [{"kubeContext": "kind-bvp"}]
    eks_values = [
        p["value"]
        for p in profiles["eks"]["patches"]
        if p["path"].endswith("valuesFiles")
    ]
    assert eks_values == [["charts/btc-volatility/values-eks.yaml"]]


def test_kind_cluster_config_validates_and_pins_node_digest():
    doc = yaml.safe_load((ROOT / "k8s" / "kind-cluster.yaml").read_text())
    assert (
        list(
            validator("kind/kind-cluster-v1alpha4.schema.json", False).iter_errors(doc)
        )
        == []
    )
    assert doc["name"] == "bvp"  # skaffold's kind profile activates on kind-bvp
    for node in doc["nodes"]:
        assert re.fullmatch(
            r"kindest/node:v1\.35\.\d+@sha256:[0-9a-f]{64}", node["image"]
        )


@pytest.mark.parametrize(
    "fixture", sorted(p.name for p in (SCHEMAS / "kind" / "testdata").glob("*.yaml"))
)
def test_kind_schema_accepts_upstream_valid_and_rejects_invalid(fixture):
    doc = yaml.safe_load((SCHEMAS / "kind" / "testdata" / fixture).read_text())
    errors = list(
        validator("kind/kind-cluster-v1alpha4.schema.json", False).iter_errors(doc)
    )
    assert bool(errors) == fixture.startswith("invalid")


def test_install_script_pins_versions():
    text = (ROOT / "k8s" / "install.sh").read_text()
    for var in ("CERT_MANAGER_VERSION", "KSERVE_VERSION", "KFP_VERSION"):
        assert re.search(rf'^{var}="v?\d+\.\d+\.\d+"', text, re.M), var
    assert "deploymentMode=Standard" in text


def test_pipeline_image_default_is_the_chart_and_skaffold_image():
    from pipelines.images import PIPELINE_IMAGE

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    img = values["mlflow"]["image"]
    assert f"{img['repository']}:{img['tag']}" == PIPELINE_IMAGE
    assert PIPELINE_IMAGE.rsplit("/", 1)[-1].split(":")[0] in {
        a["image"] for a in SKAFFOLD["build"]["artifacts"]
    }

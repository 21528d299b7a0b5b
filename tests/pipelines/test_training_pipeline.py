"""The training pipeline: component bodies, golden compilation, a kfp.local run."""

import json

import pytest
from numpy.testing import assert_allclose

from ml.settings import Settings
from pipelines.runner import COMPILED_DIR, compile_pipeline


def test_compiled_yaml_matches_committed(tmp_path):
    fresh = compile_pipeline("training", tmp_path)
    assert fresh.read_text() == (COMPILED_DIR / "training.yaml").read_text(), (
        "pipelines/compiled/training.yaml is stale: run `bvp pipeline compile training`"
    )


def test_compiled_components_use_the_project_image_and_install_nothing(tmp_path):
    text = compile_pipeline("training", tmp_path).read_text()
    assert "pip install" not in text
    assert text.count("image: ghcr.io/bvp-project/bvp-pipeline:0.1.0") == 6


def test_fetch_body_via_python_func(tmp_path):
    from kfp.dsl import Dataset

    from pipelines.components.training import fetch

    daily, h4 = Dataset(uri=str(tmp_path / "d")), Dataset(uri=str(tmp_path / "h"))
    daily.path, h4.path = str(tmp_path / "d.parquet"), str(tmp_path / "h.parquet")
    out = json.loads(
        fetch.python_func("bundled", "", "", "2018-01-01", "2018-03-31", daily, h4)
    )
    assert out["daily"]["rows"] == 90 and out["daily"]["last"] == "2018-03-31"
    assert daily.metadata["rows"] == 90


@pytest.mark.slow
@pytest.mark.integration
def test_local_run_registers_champion(trained_home, monkeypatch):
    import mlflow

    for k, v in trained_home.items():
        monkeypatch.setenv(k, v)
    s = Settings()
    client = mlflow.MlflowClient(s.tracking_uri)
    mv = client.get_model_version_by_alias("btc-volatility", "champion")
    assert str(mv.version) == trained_home["BVP_TEST_VERSION"]
    run = client.get_run(mv.run_id)
    assert run.data.metrics["wf_xgboost_h01_log_loss"] > 0
    assert "wf_persistence_h30_macro_f1" in run.data.metrics
    assert json.loads(run.data.tags["bvp.data_versions"])["daily"]["rows"] == 730
    artifacts = {a.path for a in client.list_artifacts(mv.run_id, "walk_forward")}
    assert "walk_forward/confusion_matrices.json" in artifacts


@pytest.mark.slow
@pytest.mark.integration
def test_rerun_on_unchanged_inputs_registers_no_duplicate(trained_home, monkeypatch):
    import mlflow

    from bvp.stack import ensure_champion

    for k, v in trained_home.items():
        monkeypatch.setenv(k, v)
    s = Settings()
    version, ran = ensure_champion(s)
    assert (version, ran) == (trained_home["BVP_TEST_VERSION"], False)
    versions = mlflow.MlflowClient(s.tracking_uri).search_model_versions(
        "name = 'btc-volatility'"
    )
    assert len(versions) == 1


@pytest.mark.slow
@pytest.mark.integration
def test_register_step_reuses_the_version_with_the_same_fingerprint(
    trained_home, monkeypatch
):
    import mlflow

    from pipelines.components.training import register

    for k, v in trained_home.items():
        monkeypatch.setenv(k, v)
    s = Settings()
    client = mlflow.MlflowClient(s.tracking_uri)
    mv = client.get_model_version_by_alias("btc-volatility", "champion")
    out = register.python_func(
        s.tracking_uri,
        "btc-volatility",
        mv.source,
        mv.run_id,
        mv.tags["bvp.fingerprint"],
        "champion",
        "{}",
    )
    assert (out.version, out.created) == (str(mv.version), False)
    assert len(client.search_model_versions("name = 'btc-volatility'")) == 1


@pytest.mark.slow
@pytest.mark.integration
def test_champion_carries_its_structural_model(trained_home, monkeypatch):
    """The train step registers structural.json with the booster; serving fetches both."""
    from ml.structural import structural_from_dict
    from serving.champion import fetch_champion

    for k, v in trained_home.items():
        monkeypatch.setenv(k, v)
    booster, info = fetch_champion(Settings())
    data = json.loads((booster.parent / "structural.json").read_text())
    assert data["last_day"] == "2019-12-31" and data["thresholds"] == [0.4, 0.65]
    model = structural_from_dict(data)
    assert model.weights_ is not None and model.weights_.shape == (30, 4)
    assert_allclose(model.weights_.sum(axis=1), 1.0)
    assert [len(m.level_resid) for m in model.members_ or []] == [30] * 4


@pytest.mark.slow
@pytest.mark.integration
def test_train_says_when_a_retrain_registered_no_new_version(trained_home, monkeypatch):
    """`bvp train --retrain` on unchanged inputs said "v1 (trained)" as if v1 were new."""
    from click.testing import CliRunner

    import bvp.stack
    from bvp.cli import main

    for k, v in trained_home.items():
        monkeypatch.setenv(k, v)
    version = trained_home["BVP_TEST_VERSION"]
    # the pipeline itself is the one test_local_run_registers_champion ran; here only
    # what train says about its result: the registered version back, or a new one
    for result, said in (
        (version, f"v{version} (retrained; same data, spec, thresholds and code as the "
                  f"registered v{version}: no new version)"),
        ("99", "v99 (trained)"),
    ):  # fmt: skip
        monkeypatch.setattr(
            bvp.stack, "ensure_champion", lambda *a, r=result, **k: (r, True)
        )
        res = CliRunner().invoke(main, ["train", "--retrain"])
        assert res.exit_code == 0, res.output
        assert f"champion: btc-volatility {said}" in res.output

"""Compiled monitoring pipeline (golden YAML), cron conversion and the schedule request."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner

from ml.errors import ConfigError
from pipelines.runner import COMPILED_DIR, compile_pipeline
from pipelines.schedule import create_schedule, to_kfp_cron


def test_compiled_monitoring_pipeline_matches_committed(tmp_path):
    fresh = compile_pipeline("monitoring", tmp_path)
    committed = COMPILED_DIR / "monitoring.yaml"
    assert committed.exists(), (
        "run `bvp pipeline compile monitoring` and commit the YAML"
    )
    assert yaml.safe_load(fresh.read_text()) == yaml.safe_load(committed.read_text()), (
        "pipelines/compiled/monitoring.yaml is stale: run `bvp pipeline compile monitoring`"
    )


def test_compiled_pipeline_has_every_step_and_nested_conditions():
    spec = yaml.safe_load((COMPILED_DIR / "monitoring.yaml").read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert {"fetch", "monitor", "decide", "condition-1"} <= set(tasks)
    inner = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    assert {"fetch-new-data", "check-new-data", "condition-2"} <= set(inner)
    execs = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in execs.values()} == {
        "ghcr.io/bvp-project/bvp-pipeline:0.1.0"
    }


@pytest.mark.parametrize(
    ("cron", "kfp"),
    [
        ("0 3 * * 1", "0 0 3 * * 1"),
        ("*/15 * * * *", "0 */15 * * * *"),
        ("30 2 1,15 * MON-FRI", "0 30 2 1,15 * MON-FRI"),
        ("0 0 ? JAN-MAR 0", "0 0 0 ? JAN-MAR 0"),
        ("5 4  *  * 7", "0 5 4 * * 7"),
    ],
    ids=["weekly", "step", "lists-and-names", "question-mark", "extra-spaces"],
)
def test_cron_conversion(cron, kfp):
    assert to_kfp_cron(cron) == kfp


@pytest.mark.parametrize(
    ("cron", "match"),
    [
        ("0 3 * *", r"cron: got '0 3 \* \*'.*five fields"),
        ("0 0 3 * * 1", r"cron: got '0 0 3 \* \* 1'.*five fields"),
        ("60 3 * * 1", r"cron minute field: got '60'.*0-59"),
        ("0 24 * * 1", r"cron hour field: got '24'.*0-23"),
        ("0 3 0 * *", r"cron day-of-month field: got '0'.*1-31"),
        ("0 3 * 13 *", r"cron month field: got '13'.*1-12"),
        ("0 3 * * 8", r"cron day-of-week field: got '8'.*0-7"),
        ("0 3 * * FUNDAY", r"cron day-of-week field: got 'FUNDAY'"),
        ("*/0 3 * * 1", r"cron minute field: got '\*/0'.*step >= 1"),
        ("0 5-2 * * 1", r"cron hour field: got '5-2'.*low <= high"),
    ],
    ids=[
        "four-fields",
        "six-fields",
        "minute",
        "hour",
        "dom",
        "month",
        "dow",
        "dow-name",
        "zero-step",
        "reversed-range",
    ],
)
def test_invalid_cron_names_field_and_value(cron, match):
    with pytest.raises(ConfigError, match=match):
        to_kfp_cron(cron)


class FakeKfpClient:
    """Records the calls a kfp.Client would receive."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def create_experiment(self, name: str, **kw):
        self.calls.append(("create_experiment", {"name": name, **kw}))
        return SimpleNamespace(experiment_id="exp-1")

    def create_recurring_run(self, **kw):
        self.calls.append(("create_recurring_run", kw))
        return SimpleNamespace(recurring_run_id="rr-42")


def test_schedule_request(tmp_path):
    client = FakeKfpClient()
    path = COMPILED_DIR / "monitoring.yaml"
    rid = create_schedule(
        client, path, "0 3 * * 1", {"tracking_uri": "http://mlflow:5000"}
    )
    assert rid == "rr-42"
    (_, exp), (_, req) = client.calls
    assert exp == {"name": "monitoring"}
    assert req["experiment_id"] == "exp-1"
    assert req["cron_expression"] == "0 0 3 * * 1"
    assert req["pipeline_package_path"] == str(path)
    assert req["params"] == {"tracking_uri": "http://mlflow:5000"}
    assert req["max_concurrency"] == 1 and req["no_catchup"] is True


def test_schedule_cli_sends_monitoring_arguments(monkeypatch, tmp_path):
    from bvp.cli import main
    from bvp.commands import pipeline as cmd

    client = FakeKfpClient()
    monkeypatch.setattr(cmd, "_kfp_client", lambda host: client)
    monkeypatch.setattr("pipelines.runner.compile_pipeline",
                        lambda name, out: COMPILED_DIR / f"{name}.yaml")  # fmt: skip
    res = CliRunner().invoke(main, ["pipeline", "schedule", "--cron", "0 3 * * 1",
                                    "--host", "http://kfp:8888", "--param", "gate_days=70"])  # fmt: skip
    assert res.exit_code == 0, res.output
    req = client.calls[1][1]
    assert req["cron_expression"] == "0 0 3 * * 1"
    assert req["params"]["gate_days"] == 70
    assert req["params"]["monitoring_experiment"] == "volatility_monitoring"
    assert "rr-42" in res.output


def test_schedule_cli_rejects_bad_cron(monkeypatch):
    from bvp.cli import main
    from bvp.commands import pipeline as cmd

    monkeypatch.setattr(cmd, "_kfp_client", lambda host: FakeKfpClient())
    monkeypatch.setattr("pipelines.runner.compile_pipeline",
                        lambda name, out: COMPILED_DIR / f"{name}.yaml")  # fmt: skip
    res = CliRunner().invoke(main, ["pipeline", "schedule", "--cron", "0 25 * * 1",
                                    "--host", "http://kfp:8888"])  # fmt: skip
    assert res.exit_code != 0
    assert "cron hour field: got '25'" in res.output

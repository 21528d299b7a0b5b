"""The CLI: help, data check reports, and errors without tracebacks."""

import gzip

import pytest
from click.testing import CliRunner

from bvp.cli import main
from ml.data import bundled_path


def test_help_lists_every_noun():
    out = CliRunner().invoke(main, ["--help"]).output
    for noun in ("data", "pipeline", "serve", "train", "ui", "up", "down", "deploy"):
        assert noun in out


def test_data_check_bundled_4h_reports_gaps():
    res = CliRunner().invoke(
        main, ["data", "check", str(bundled_path("4h")), "--interval", "4h"]
    )
    assert res.exit_code == 0, res.output
    assert (
        "rows:     16208" in res.output
        and "gaps:     8 (16 missing candles)" in res.output
    )
    assert (
        "status:   ok with 8 gaps (accepted by default in 4-hour candles)" in res.output
    )


def test_data_check_says_daily_gaps_are_refused_by_default_downstream(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,1.5,3\n"
        "2020-01-03,1,2,0.5,1.5,3\n"
    )
    res = CliRunner().invoke(main, ["data", "check", str(path)])
    assert res.exit_code == 0, res.output
    assert res.output.rstrip().endswith(
        "status:   ok with 1 gap: training and bvp backtest refuse gaps in daily "
        "candles unless BVP_DATA__GAP_POLICY_1D=report or --gaps report"
    )


@pytest.mark.parametrize(
    ("content", "args", "match"),
    [
        (
            "Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,1.5,-3\n",
            [],
            "volume at 2020-01-01T00:00Z: got -3.0, expected a finite volume >= 0",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2020-01-01,1,2,0.5,1.5,3\n2020-01-03,1,2,0.5,1.5,3\n",
            ["--gaps", "raise"],
            "expected the next 1d candle after 2020-01-01T00:00Z "
            "(1 missing; pass --gaps report to accept gaps)",
        ),
    ],
    ids=["negative-volume", "gap-raise"],
)
def test_data_check_failures_are_one_clear_line(tmp_path, content, args, match):
    path = tmp_path / "candles.csv"
    path.write_text(content)
    res = CliRunner().invoke(main, ["data", "check", str(path), *args])
    assert res.exit_code == 1
    assert match in res.output and "Traceback" not in res.output


def test_pipeline_run_needs_exactly_one_target():
    res = CliRunner().invoke(main, ["pipeline", "run", "training"])
    assert res.exit_code == 2 and "exactly one of --local and --host" in res.output


def test_serve_without_champion_explains_what_to_run():
    res = CliRunner().invoke(main, ["serve"])
    assert res.exit_code == 1
    assert "no version for '@champion'" in res.output and "make up" in res.output


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("empty.csv", b"", "empty file, expected a CSV or JSON candle file"),
        ("empty.csv.gz", gzip.compress(b""), "empty file"),
        ("junk.bin", bytes(range(128, 256)) * 4, "not a CSV/JSON candle file (binary"),
        ("junk.csv.gz", b"\x00\x9f" * 64, "named .gz but has no gzip header"),
        ("cut.csv.gz", gzip.compress(b"Date,Open\n" * 50)[:25], "not a valid gzip"),
    ],
    ids=["empty", "empty-gz", "binary", "not-gz", "cut-gz"],
)
def test_data_check_unreadable_file_is_one_line_naming_it(
    tmp_path, name, content, problem
):
    path = tmp_path / name
    path.write_bytes(content)
    res = CliRunner().invoke(main, ["data", "check", str(path)])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.output.startswith(f"Error: {path}: ") and problem in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_model_list_before_any_registration_is_an_empty_listing_with_a_hint():
    res = CliRunner().invoke(main, ["model", "list"])
    assert res.exit_code == 0, res.output
    assert "model 'btc-volatility': no versions registered yet" in res.output
    assert "bvp pipeline run training --local" in res.output


@pytest.mark.parametrize(
    ("env", "lines"),
    [
        (
            {"BVP_SERVING__HTTP_PORT": "abc"},
            ["BVP_SERVING__HTTP_PORT: got 'abc', expected an integer"],
        ),
        (
            {"BVP_DATA__GAP_POLICY_1D": "maybe", "BVP_UI__PORT": "-"},
            [
                "BVP_DATA__GAP_POLICY_1D: got 'maybe', expected one of 'raise' or "
                "'report'",
                "BVP_UI__PORT: got '-', expected an integer",
            ],
        ),
        (  # was found 2 minutes into training, in the evaluate step
            {"BVP_TRAIN__FIRST_TEST_ORIGIN": "2030-1-1", "BVP_TRAIN__TRAIN_END": "x"},
            ["BVP_TRAIN__FIRST_TEST_ORIGIN: got '2030-1-1', expected a date YYYY-MM-DD, "
             "e.g. 2025-05-27",
             "BVP_TRAIN__TRAIN_END: got 'x', expected a date YYYY-MM-DD, e.g. 2025-05-27"],
        ),
        (
            {"BVP_SERVING__PARALLEL_WORKERS": "-1"},
            ["BVP_SERVING__PARALLEL_WORKERS: got '-1', expected a number >= 0"],
        ),
        (
            {"BVP_TARGET__THRESHOLDS": "0.3,0.6"},
            ["BVP_TARGET__THRESHOLDS: got '0.3,0.6', expected JSON like [0.4, 0.65]"],
        ),
        (
            {"BVP_SERVING": '{"http_port": "x"}'},
            ["BVP_SERVING (http_port): got '{\"http_port\": \"x\"}', expected an "
             "integer"],
        ),
        (
            {"BVP_SERVING__HTTP_PROT": "9000"},
            ["BVP_SERVING__HTTP_PROT: got '9000', an unknown setting; did you mean "
             "BVP_SERVING__HTTP_PORT?"],
        ),
        (
            {"BVP_SERVING__HTTP_PORT": "99999"},
            ["BVP_SERVING__HTTP_PORT: got '99999', expected a number <= 65535"],
        ),
        (
            {"BVP_LOG_LEVEL": "LOUD"},
            ["BVP_LOG_LEVEL: got 'LOUD', expected one of 'DEBUG', 'INFO', 'WARNING', "
             "'ERROR' or 'CRITICAL'"],
        ),
        (
            {"BVP_HOME": ""},
            ["BVP_HOME: got '', expected a directory (an empty value would mean the "
             "current one)"],
        ),
        (
            {"BVP_TARGET__MAX_HORIZON": "0"},
            ["BVP_TARGET__MAX_HORIZON: got '0', expected a number >= 1"],
        ),
        (
            {"BVP_TARGET__THRESHOLDS": "[0.4, 11]"},
            ["BVP_TARGET__THRESHOLDS: got '[0.4, 11]', expected two thresholds with "
             "0 < low < high <= 10"],
        ),
        (
            {"BVP_HOEM": "/tmp/x", "BVP_SERVNG__HTTP_PORT": "9"},
            ["BVP_HOEM: got '/tmp/x', an unknown setting; did you mean BVP_HOME?",
             "BVP_SERVNG__HTTP_PORT: got '9', an unknown setting; did you mean "
             "BVP_SERVING__HTTP_PORT?"],
        ),
    ],
    ids=["int", "two-settings", "train-days", "bound", "not-json", "group-json", "misspelled",
         "port-range", "log-level", "empty-home", "horizon", "threshold-cap",
         "misspelled-top-level"],
)  # fmt: skip
def test_bad_settings_are_one_line_each_naming_the_variable(monkeypatch, env, lines):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    res = CliRunner().invoke(main, ["status"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert sorted(res.output.strip().splitlines()) == [f"Error: {x}" for x in lines]


def test_bvp_variables_that_are_not_settings_stay_allowed(monkeypatch, tmp_path):
    """The prefix is shared: only a near miss of a setting's name is refused."""
    monkeypatch.setenv("BVP_HOME", str(tmp_path))
    for name in ("BVP_KFP_HOST", "BVP_KSERVE_PYTHON", "BVP_PIPELINE_IMAGE",
                 "BVP_STORAGE_URI", "BVP_BUCKET", "BVP_SOLVER", "BVP_TEST_VERSION"):  # fmt: skip
        monkeypatch.setenv(name, "x")
    res = CliRunner().invoke(main, ["model", "list"])
    assert res.exit_code == 0, res.output


def test_monitoring_view_names_commands_that_exist():
    import re

    from ui.monitoring import NO_RUNS

    commands = re.findall(r"`bvp ([^`]*)`", NO_RUNS)
    assert commands
    for command in commands:
        words = [w for w in command.split() if not w.startswith("-")]
        res = CliRunner().invoke(main, [*words, "--help"])
        assert res.exit_code == 0, (command, res.output)


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("yesterday", "--from: got 'yesterday', expected a date YYYY-MM-DD"),
        ("2030-01-01", "--from: got '2030-01-01', expected 2025-05-20 or earlier: a "
         "replay needs two decision days 7 days apart up to 2025-05-27"),
        # the bundled labels hold a 'low' regime only from 2018-10-05 on
        ("2017-01-01", "--from: got '2017-01-01', expected 2018-10-05 or later: the "
         "regime labels known by 2018-09-28 do not yet hold all three regimes"),
    ],
    ids=["unreadable", "after-the-data", "before-all-regimes"],
)  # fmt: skip
def test_replay_start_is_checked_before_any_fit(tmp_path, monkeypatch, start, message):
    monkeypatch.setenv("BVP_HOME", str(tmp_path))
    res = CliRunner().invoke(main, ["replay", "--from", start])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"Error: {message}" in res.output


@pytest.mark.parametrize(
    "command",
    [["run", "monitoring"], ["schedule", "--cron", "0 3 * * 1"]],
    ids=["run", "schedule"],
)
def test_unreachable_kfp_host_is_one_line_without_library_warnings(tmp_path, command):
    """Real process, so kfp's FutureWarning and urllib3's retry log would show."""
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
    res = subprocess.run(
        [sys.executable, "-m", "bvp", "pipeline", *command, "--host", host],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "BVP_HOME": str(tmp_path)},
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stdout == "" and res.stderr.splitlines() == [
        f"Error: --host {host}: cannot reach the KFP API (NewConnectionError: Failed "
        "to establish a new connection: [Errno 111] Connection refused)"
    ], res.stderr


def _bundled_head(tmp_path, rows):
    lines = gzip.decompress(bundled_path("1d").read_bytes()).decode().splitlines()
    path = tmp_path / f"head{rows}.csv"
    path.write_text("\n".join(lines[: rows + 1]) + "\n")
    return path


@pytest.mark.parametrize(
    ("rows", "usable"),
    [
        (1, "too short for a forecast: 1 daily candle, a forecast needs 91 up to"),
        (
            200,
            "forecasts as of 2018-04-01 or later; too short for bvp backtest: "
            "200 daily candles, it needs 271",
        ),
        (301, "forecasts as of 2018-04-01 or later; bvp backtest --start 2018-09-28"),
    ],
)
def test_data_check_says_what_a_daily_file_is_long_enough_for(tmp_path, rows, usable):
    res = CliRunner().invoke(
        main, ["data", "check", str(_bundled_head(tmp_path, rows))]
    )
    assert res.exit_code == 0, res.output
    assert f"usable:   {usable}" in res.output and "status:   ok" in res.output


def test_data_check_backtest_start_is_the_one_backtest_accepts(tmp_path):
    path = _bundled_head(tmp_path, 301)
    res = CliRunner().invoke(
        main, ["backtest", "--data", str(path), "--start", "2018-09-27",
               "--out", str(tmp_path / "p.csv")],
    )  # fmt: skip
    assert res.exit_code == 1 and "expected 2018-09-28 or later" in res.output
    assert not (tmp_path / "p.csv").exists()


def test_a_failed_training_step_is_one_line_naming_step_and_error(tmp_path):
    from bvp.stack import PipelineRunError

    log = tmp_path / "pipeline.log"
    step = (
        "Error: pipeline training: step 'evaluate' failed: first_origin: got "
        "'2030-01-01', expected 2025-05-27 (the data's last day) or earlier"
    )
    err = PipelineRunError(log, f"Traceback ...\n  File x\n{step}")
    assert str(err) == f"{step.removeprefix('Error: ')} (full log {log})"
    other = PipelineRunError(log, "Killed")
    assert "last lines:\nKilled" in str(other)


def test_monitoring_run_ends_with_a_short_summary_not_its_json(tmp_path):
    """`bvp pipeline run monitoring --local` ended with a 2 KB JSON line."""
    import json

    import mlflow

    from bvp.commands.pipeline import _monitoring_summary

    uri = f"sqlite:///{tmp_path / 'm.db'}"
    client = mlflow.MlflowClient(uri)
    exp = client.create_experiment("mon", artifact_location=(tmp_path / "a").as_uri())
    run = client.create_run(exp)
    client.set_tag(run.info.run_id, "bvp.decision", "retrain=False: not degraded")
    out = json.dumps({
        "asof": "2025-05-27", "champion_version": "1", "mlflow_run_id": run.info.run_id,
        "drift": {"share": 1.0, "method": "wasserstein_normed>=0.1",
                  "dataset_drift": True, "drift_share": 0.5, "scores": {"x": 0.3}},
        "performance": {"skill": 0.5473, "n_days": 180, "log_loss": 0.4538,
                        "reference_log_loss": 1.0026},
    })  # fmt: skip
    text = _monitoring_summary(out, uri)
    assert text.splitlines() == [
        "champion v1 as of 2025-05-27",
        "  drift:    1.00 of features drifted (wasserstein_normed>=0.1; dataset drift "
        "at 0.50)",
        "  skill:    0.547 over 180 matured days (log loss 0.454, climatology 1.003)",
        "  decision: retrain=False: not degraded",
        f"  run:      MLflow {run.info.run_id} (Evidently report, summary JSON)",
    ]
    assert _monitoring_summary("not json", uri) == "not json"

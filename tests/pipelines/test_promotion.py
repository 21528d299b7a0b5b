"""Aliases: promotion moves champion -> previous; rollback moves it back (CLI too)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from ml.errors import ModelNotFoundError
from pipelines.promotion import deploy_champion, promote_challenger, rollback
from pipelines.tracking import resolve_alias
from tests.fixtures import register_champion, synthetic_candles

NAME = "btc-volatility"


@pytest.fixture
def two_versions(settings, tmp_path):
    candles = synthetic_candles(500, 5)
    register_champion(
        settings.tracking_uri, candles, 400, tmp_path / "a", settings.artifact_root, 5
    )
    register_champion(
        settings.tracking_uri, candles, 450, tmp_path / "b", settings.artifact_root, 5
    )
    return settings.tracking_uri  # v1 and v2; champion -> v2 (last registered)


def _v(uri: str, alias: str) -> str:
    return resolve_alias(uri, NAME, alias)["version"]


def test_promote_then_rollback_then_undo(two_versions):
    uri = two_versions
    promote_challenger(uri, NAME, "1")  # make v1 champion, v2 previous
    assert (_v(uri, "champion"), _v(uri, "previous")) == ("1", "2")
    assert rollback(uri, NAME) == {"champion": "2", "previous": "1"}
    assert rollback(uri, NAME) == {"champion": "1", "previous": "2"}


def test_promoting_the_champion_again_changes_nothing(two_versions):
    uri = two_versions
    promote_challenger(uri, NAME, "2")
    assert _v(uri, "champion") == "2"
    with pytest.raises(ModelNotFoundError):
        resolve_alias(uri, NAME, "previous")


def test_rollback_without_previous_names_the_alias(two_versions):
    with pytest.raises(
        ModelNotFoundError, match=r"@previous.*no champion has been replaced"
    ):
        rollback(two_versions, NAME)


def test_a_trained_champion_replacing_another_makes_it_previous(two_versions, tmp_path):
    """bvp train moved the champion alias without setting previous: no rollback."""
    from pipelines.tracking import register_version

    uri = two_versions
    candles = synthetic_candles(500, 5)
    register_champion(uri, candles, 480, tmp_path / "c", "", 5, previous="previous")
    assert (_v(uri, "champion"), _v(uri, "previous")) == ("3", "2")
    info = resolve_alias(uri, NAME, "champion")
    again = register_version(uri, NAME, "unused", info["run_id"] or "",
                             info["tags"]["bvp.fingerprint"], "champion",
                             previous="previous")  # fmt: skip
    assert again == ("3", False)  # same fingerprint: nothing moves
    assert (_v(uri, "champion"), _v(uri, "previous")) == ("3", "2")
    assert rollback(uri, NAME) == {"champion": "2", "previous": "3"}


def test_cli_model_list_and_rollback(two_versions):
    from bvp.cli import main

    promote_challenger(two_versions, NAME, "1")
    res = CliRunner().invoke(main, ["model", "rollback"])
    assert res.exit_code == 0, res.output
    assert "champion -> v2" in res.output
    listing = CliRunner().invoke(main, ["model", "list"]).output
    assert "v2" in listing and "champion" in listing and "previous" in listing


def test_deploy_target_none_and_unknown():
    assert "nothing deployed" in deploy_champion("none", "sqlite://", NAME)
    from ml.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"deploy_target: got 'ec2'.*none, kserve, sagemaker"
    ):
        deploy_champion("ec2", "sqlite://", NAME)


def test_version_list_shows_each_versions_data_end(two_versions):
    from pipelines.promotion import list_versions

    rows = list_versions(two_versions, NAME)
    assert [r["version"] for r in rows] == ["2", "1"]
    # the pipeline tags the run, not the version: the list reads it from there
    assert rows[0]["data_last"] > rows[1]["data_last"] != ""


def test_status_says_when_the_served_version_is_not_the_champion(
    two_versions, settings
):
    """bvp status named the champion only: after bvp train, v1 was still served."""
    import json

    from bvp.cli import main
    from serving.model_repo import model_settings

    res = CliRunner().invoke(main, ["status"])
    assert "served       none (no MLServer repository yet: bvp up)" in res.output
    repo = settings.home / "serving" / "repo" / NAME
    repo.mkdir(parents=True)
    (repo / "model-settings.json").write_text(json.dumps(model_settings(NAME, "1")))
    res = CliRunner().invoke(main, ["status"])
    assert res.exit_code == 0, res.output
    assert "champion     btc-volatility v2 " in res.output
    assert (
        "served       v1, not the champion: `bvp serve reload` serves v2" in res.output
    )
    promote_challenger(two_versions, NAME, "1")
    assert "served       v1\n" in CliRunner().invoke(main, ["status"]).output

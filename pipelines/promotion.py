"""Registry aliases of the champion/challenger loop, and deployment of a promotion.

Aliases: ``champion`` serves, ``challenger`` is the latest retrained version,
``previous`` is the champion before the last promotion or training run that replaced
it (``pipelines.tracking.register_version``). Promotion moves champion -> previous and
challenger -> champion; rollback moves previous -> champion
(and the rolled-back version becomes ``previous``, so a second rollback undoes the
first).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ml.errors import ConfigError, ModelNotFoundError, PromotionError

log = logging.getLogger(__name__)

__all__ = [
    "ALIASES",
    "DEPLOY_TARGETS",
    "deploy_champion",
    "download_version",
    "list_versions",
    "promote_challenger",
    "rollback",
]

ALIASES = ("champion", "challenger", "previous")
DEPLOY_TARGETS = ("none", "kserve", "sagemaker")


def _client(tracking_uri: str) -> Any:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.MlflowClient()


def _version_of(client: Any, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def promote_challenger(
    tracking_uri: str,
    name: str,
    version: str,
    champion: str = "champion",
    previous: str = "previous",
    reason: str = "",
) -> dict[str, str | None]:
    """Make ``version`` the champion; the old champion becomes ``previous``.

    Returns:
        ``{"champion": new, "previous": old or None}``.
    """
    client = _client(tracking_uri)
    old = _version_of(client, name, champion)
    if old == version:
        return {"champion": version, "previous": _version_of(client, name, previous)}
    if old is not None:
        client.set_registered_model_alias(name, previous, old)
    client.set_registered_model_alias(name, champion, version)
    client.set_model_version_tag(name, version, "bvp.promotion_reason", reason[:4000])
    log.info("promoted %s v%s to %s (previous: v%s)", name, version, champion, old)
    return {"champion": version, "previous": old}


def rollback(
    tracking_uri: str, name: str, champion: str = "champion", previous: str = "previous"
) -> dict[str, str]:
    """Move ``champion`` back to the ``previous`` version (and swap them).

    Raises:
        ModelNotFoundError: No ``previous`` alias (no champion was ever replaced).
    """
    client = _client(tracking_uri)
    back = _version_of(client, name, previous)
    if back is None:
        raise ModelNotFoundError(
            name,
            f"@{previous}",
            "Nothing to roll back to: no champion has been replaced yet.",
        )
    current = _version_of(client, name, champion)
    client.set_registered_model_alias(name, champion, back)
    if current is not None and current != back:
        client.set_registered_model_alias(name, previous, current)
    log.info("rolled back %s: %s v%s -> v%s", name, champion, current, back)
    return {"champion": back, "previous": current or back}


DATA_LAST_TAG = "bvp.data.daily.last"


def _run_tag(client: Any, run_id: str | None) -> str:
    """The training run's last data day (the pipeline tags the run, not the version)."""
    if not run_id:
        return ""
    try:
        return str(client.get_run(run_id).data.tags.get(DATA_LAST_TAG, ""))
    except Exception:  # noqa: BLE001 - a deleted run leaves the column empty
        return ""


def list_versions(tracking_uri: str, name: str) -> list[dict[str, Any]]:
    """Every version with its aliases and key tags, newest first ([] before the first
    registration)."""
    client = _client(tracking_uri)
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except Exception as exc:  # noqa: BLE001 - MLflow raises several types here
        raise ModelNotFoundError(name, "any version", "Train a model first.") from exc
    if not versions:  # nothing registered yet (the model itself may not exist)
        return []
    by_version: dict[str, list[str]] = {}
    for alias, ver in client.get_registered_model(name).aliases.items():
        by_version.setdefault(str(ver), []).append(alias)
    rows = [
        {
            "version": str(v.version),
            "aliases": ",".join(sorted(by_version.get(str(v.version), []))),
            "created": int(v.creation_timestamp or 0),
            "data_last": v.tags.get(DATA_LAST_TAG) or _run_tag(client, v.run_id),
            "run_id": v.run_id,
        }
        for v in versions
    ]
    return sorted(rows, key=lambda r: int(r["version"]), reverse=True)


def download_version(
    tracking_uri: str, name: str, alias: str, dest: Path
) -> tuple[Path, dict[str, Any]]:
    """Download ``name@alias``'s files; returns (model.ubj path, version description)."""
    import mlflow

    from ml.models import BOOSTER_FILE
    from pipelines.tracking import resolve_alias

    info = resolve_alias(tracking_uri, name, alias)
    target = dest / f"v{info['version']}"
    if not any(target.rglob(BOOSTER_FILE)):
        target.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{info['version']}", dst_path=str(target)
        )
    return next(target.rglob(BOOSTER_FILE)), info


def deploy_champion(
    target: str, tracking_uri: str, name: str, alias: str = "champion"
) -> str:
    """Deploy ``name@alias`` to the configured target.

    ``none``: nothing to do (a local MLServer serves the alias on its next start).
    ``kserve``: apply the InferenceService for the alias's storage URI.
    ``sagemaker``: blue/green promotion by ``serving.promote`` (imported lazily).

    Raises:
        ConfigError: Unknown target.
        PromotionError: The deployment failed.
    """
    if target not in DEPLOY_TARGETS:
        raise ConfigError("deploy_target", target, f"one of {', '.join(DEPLOY_TARGETS)}",
                          "(BVP_MONITORING__DEPLOY_TARGET)")  # fmt: skip
    if target == "none":
        return "deploy_target none: nothing deployed"
    from ml.settings import Settings

    if target == "kserve":
        from serving import kserve_deploy as kd

        uri = kd.check_storage_uri(
            kd.resolve_alias_uri(_client(tracking_uri), name, alias)
        )
        settings = Settings()
        spec = kd.InferenceServiceSpec(
            name=name, namespace="bvp", storage_uri=uri, runtime=kd.DEFAULT_RUNTIME,
            service_account="bvp-btc-volatility", transformer_image=kd.DEFAULT_TRANSFORMER_IMAGE,
            transformer_http_port=settings.transformer.http_port,
            transformer_grpc_port=settings.transformer.grpc_port,
        )  # fmt: skip
        return kd.apply_manifest(kd.build_inference_service(spec))
    try:
        from serving.promote import promote_to_sagemaker
    except ImportError as exc:
        raise PromotionError(
            "deploy_target sagemaker: serving.promote is not installed"
        ) from exc
    settings = Settings(mlflow={"tracking_uri": tracking_uri, "model_name": name})  # type: ignore[arg-type]
    return str(promote_to_sagemaker(settings))

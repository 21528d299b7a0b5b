"""``bvp pipeline compile|run``: KFP pipelines, locally (kfp.local) or on a KFP host."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ml.errors import BVPError
from ml.settings import Settings


@click.group(name="pipeline")
def cli() -> None:
    """Kubeflow pipelines: compile to YAML, run locally or on a cluster."""


@cli.command("compile")
@click.argument("name", required=False)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write NAME.yaml (default pipelines/compiled).",
)
def compile_(name: str | None, out_dir: Path | None) -> None:
    """Compile NAME (default: every pipeline) to YAML."""
    from pipelines.runner import COMPILED_DIR, _pipelines, compile_pipeline

    names = [name] if name else sorted(_pipelines())
    try:
        for n in names:
            click.echo(f"wrote {compile_pipeline(n, out_dir or COMPILED_DIR)}")
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc


@cli.command("run")
@click.argument("name")
@click.option(
    "--local",
    "local",
    is_flag=True,
    help="Run with kfp.local (subprocesses, no cluster).",
)
@click.option(
    "--host",
    default=None,
    envvar="BVP_KFP_HOST",
    help="KFP API URL to submit the run to.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    help="Pipeline parameter override KEY=VALUE (repeatable).",
)
def run(name: str, local: bool, host: str | None, params: tuple[str, ...]) -> None:
    """Run pipeline NAME once: --local or --host URL (exactly one)."""
    from bvp.logs import configure_logging
    from pipelines.runner import pipeline_arguments, run_local, run_on_host

    if local == bool(host):
        raise click.UsageError("choose exactly one of --local and --host URL.")
    s = Settings()
    configure_logging(s)
    overrides = {}
    for p in params:
        key, sep, value = p.partition("=")
        if not sep:
            raise click.BadParameter(f"{p!r}: expected KEY=VALUE", param_hint="--param")
        overrides[key] = int(value) if value.isdigit() else value
    try:
        args = pipeline_arguments(s, name, **overrides)
        if local:
            out = run_local(name, args, s.home / "pipeline-root")
            if name == "monitoring":
                out = _monitoring_summary(out, s.tracking_uri)
            click.echo(f"pipeline {name} finished: {out}")
        else:
            click.echo(
                f"submitted run {run_on_host(name, args, host or '', name)} to {host}"
            )
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    except _unreachable() as exc:
        raise _host_error(host or "", exc) from exc


@cli.command("schedule")
@click.option(
    "--cron",
    default=None,
    envvar="BVP_MONITORING__CRON",
    help="Five-field cron (minute hour day-of-month month day-of-week), e.g. '0 3 * * 1'; converted to KFP's six fields.",
)
@click.option("--host", required=True, envvar="BVP_KFP_HOST", help="KFP API URL.")
@click.option(
    "--name",
    "job_name",
    default="bvp-monitoring",
    show_default=True,
    help="Recurring run name.",
)
@click.option(
    "--experiment",
    default="monitoring",
    show_default=True,
    help="KFP experiment of the runs.",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    help="Pipeline parameter override KEY=VALUE (repeatable).",
)
def schedule(
    cron: str | None, host: str, job_name: str, experiment: str, params: tuple[str, ...]
) -> None:
    """Create a recurring KFP run of the monitoring pipeline."""
    from pipelines.runner import COMPILED_DIR, compile_pipeline, pipeline_arguments
    from pipelines.schedule import create_schedule

    s = Settings()
    try:
        overrides = dict(_parse_param(p) for p in params)
        path = compile_pipeline("monitoring", COMPILED_DIR)
        client = _kfp_client(host)
        rid = create_schedule(
            client,
            path,
            cron or s.monitoring.cron,
            pipeline_arguments(s, "monitoring", **overrides),
            experiment,
            job_name,
        )
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    except _unreachable() as exc:
        raise _host_error(host, exc) from exc
    click.echo(
        f"recurring run {rid} on {host}: monitoring at cron {cron or s.monitoring.cron!r}"
    )


def _unreachable() -> tuple[type[Exception], ...]:
    """What a KFP client raises for a host it cannot reach or parse: urllib3's
    HTTPError family (MaxRetryError, LocationParseError), OSError, ValueError."""
    import urllib3

    return (urllib3.exceptions.HTTPError, OSError, ValueError)


def _host_error(host: str, exc: Exception) -> click.ClickException:
    """One line: the root cause (urllib3's MaxRetryError wraps it in its ``reason``),
    without the connection-pool repr in front of it."""
    cause = getattr(exc, "reason", None) or exc
    first = str(cause).splitlines()[0] if str(cause) else ""
    first = first.rpartition("): ")[2] or first
    detail = first if len(first) <= 200 else f"{first[:200]}..."
    return click.ClickException(
        f"--host {host}: cannot reach the KFP API ({type(cause).__name__}: {detail})"
    )


def _kfp_client(host: str):  # noqa: ANN202 - kfp is imported lazily
    from pipelines.runner import kfp_client

    return kfp_client(host)


def _parse_param(p: str) -> tuple[str, object]:
    key, sep, value = p.partition("=")
    if not sep:
        raise click.BadParameter(f"{p!r}: expected KEY=VALUE", param_hint="--param")
    return key, int(value) if value.isdigit() else value


def _monitoring_summary(output: str, tracking_uri: str) -> str:
    """The monitoring run's result in a few lines (its JSON is in the MLflow run)."""
    import mlflow

    try:
        r = json.loads(output)
        drift, perf = r["drift"], r["performance"]
    except (TypeError, ValueError, KeyError):
        return str(output)
    tags = mlflow.MlflowClient(tracking_uri).get_run(r["mlflow_run_id"]).data.tags
    verdict = "dataset drift" if drift["dataset_drift"] else "no dataset drift"
    return "\n".join([
        f"champion v{r['champion_version']} as of {r['asof']}",
        f"  drift:    {drift['share']:.2f} of features drifted ({drift['method']}; "
        f"{verdict} at {drift['drift_share']:.2f})",
        f"  skill:    {perf['skill']:.3f} over {perf['n_days']} matured days (log loss "
        f"{perf['log_loss']:.3f}, climatology {perf['reference_log_loss']:.3f})",
        f"  decision: {tags.get('bvp.decision', '?')}",
        f"  run:      MLflow {r['mlflow_run_id']} (Evidently report, summary JSON)",
    ])  # fmt: skip

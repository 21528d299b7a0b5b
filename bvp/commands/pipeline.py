"""``bvp pipeline compile|run``: KFP pipelines, locally (kfp.local) or on a KFP host."""

from __future__ import annotations

from pathlib import Path

import click

from ml.errors import BVPError
from ml.settings import Settings


@click.group(name="pipeline")
def cli() -> None:
    """Kubeflow pipelines: compile to YAML, run locally or on a cluster."""


@cli.command("compile")
@click.argument("name", required=False)
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="Where to write NAME.yaml (default pipelines/compiled).")
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
@click.option("--local", "local", is_flag=True, help="Run with kfp.local (subprocesses, no cluster).")
@click.option("--host", default=None, envvar="BVP_KFP_HOST", help="KFP API URL to submit the run to.")
@click.option("--param", "params", multiple=True, help="Pipeline parameter override KEY=VALUE (repeatable).")
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
            click.echo(f"pipeline {name} finished: {run_local(name, args, s.home / 'pipeline-root')}")
        else:
            click.echo(f"submitted run {run_on_host(name, args, host or '', name)} to {host}")
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc

"""``bvp model list|rollback``: registry versions and the champion alias."""

from __future__ import annotations

import click

from ml.errors import BVPError
from ml.settings import Settings


@click.group(name="model")
def cli() -> None:
    """Registered model versions and their aliases (champion, challenger, previous)."""


@cli.command("list")
def list_() -> None:
    """List versions, newest first, with their aliases."""
    from pipelines.promotion import list_versions

    s = Settings()
    try:
        rows = list_versions(s.tracking_uri, s.mlflow.model_name)
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    if not rows:  # an empty listing, not an error (like `bvp status`: champion none)
        click.echo(
            f"model {s.mlflow.model_name!r}: no versions registered yet. Run "
            "`bvp pipeline run training --local` (or `make up`) first.",
            err=True,
        )
    for r in rows:
        click.echo(
            f"v{r['version']:<4} {r['aliases'] or '-':<28} data to {r['data_last'] or '?'}"
        )


@cli.command("rollback")
def rollback() -> None:
    """Move the champion alias back to the previous version (run twice to undo)."""
    from pipelines.promotion import rollback as do_rollback

    s = Settings()
    try:
        moved = do_rollback(s.tracking_uri, s.mlflow.model_name, s.mlflow.champion_alias,
                            s.monitoring.previous_alias)  # fmt: skip
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"champion -> v{moved['champion']} (previous -> v{moved['previous']}); "
               "`bvp serve reload` serves it locally; `bvp deploy kserve` or `bvp promote "
               "sagemaker` in a cluster or on AWS")  # fmt: skip

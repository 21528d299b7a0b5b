"""``bvp aws``: inspect and remove the project's SageMaker resources."""

from __future__ import annotations

import json

import click
from botocore.exceptions import BotoCoreError, ClientError

from ml.errors import BVPError


@click.group(name="aws")
def cli() -> None:
    """The project's SageMaker endpoint: status and cleanup."""


@cli.command("status")
def status() -> None:
    """Print endpoint status, live endpoint config and model version as JSON."""
    from ml.settings import Settings
    from serving.promote import endpoint_status

    try:
        out = endpoint_status(Settings())
    except (BVPError, BotoCoreError, ClientError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(out, indent=2, default=str))


@cli.command("cleanup")
@click.option(
    "--keep-live",
    is_flag=True,
    help="Keep the endpoint and the config/model it serves; delete older ones only.",
)
@click.option(
    "--dry-run", is_flag=True, help="List what would be deleted; delete nothing."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cleanup(keep_live: bool, dry_run: bool, yes: bool) -> None:
    """Delete endpoints, endpoint configs and models tagged project=<aws.project_tag>.

    Only names starting with aws.name_prefix are considered; S3 archives are kept.
    """
    from ml.settings import Settings
    from serving.promote import cleanup_resources

    settings = Settings()
    try:
        plan = cleanup_resources(settings, keep_live=keep_live, dry_run=True)
        if dry_run or not any(plan.values()):
            click.echo(
                json.dumps({"would_delete" if dry_run else "deleted": plan}, indent=2)
            )
            return
        if not yes:
            click.confirm(f"delete {plan}?", abort=True)
        done = cleanup_resources(settings, keep_live=keep_live)
    except (BVPError, BotoCoreError, ClientError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"deleted": done}, indent=2))

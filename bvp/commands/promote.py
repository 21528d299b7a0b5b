"""``bvp promote``: move the registry champion to a serving target."""

from __future__ import annotations

import json

import click
from botocore.exceptions import BotoCoreError, ClientError

from ml.errors import BVPError


@click.group(name="promote")
def cli() -> None:
    """Deploy the champion (registry alias) to a serving target."""


@cli.command("sagemaker")
@click.option(
    "--endpoint",
    envvar="BVP_AWS__ENDPOINT_NAME",
    default=None,
    help="SageMaker endpoint name (setting aws.endpoint_name).",
)
@click.option(
    "--instance-type",
    envvar="BVP_AWS__INSTANCE_TYPE",
    default=None,
    help="Instance type of the new endpoint config (setting aws.instance_type).",
)
def sagemaker(endpoint: str | None, instance_type: str | None) -> None:
    """Package the champion, create or blue/green-update the endpoint, smoke-test it.

    A failed smoke test moves the endpoint back to its previous config and exits 1.
    """
    from ml.settings import Settings
    from serving.promote import promote_to_sagemaker

    settings = Settings()
    if endpoint:
        settings.aws.endpoint_name = endpoint
    if instance_type:
        settings.aws.instance_type = instance_type
    try:
        record = promote_to_sagemaker(settings)
    except (BVPError, BotoCoreError, ClientError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(record.as_dict(), indent=2))

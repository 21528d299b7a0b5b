"""``bvp deploy``: put the champion model behind KServe."""

from __future__ import annotations

import click

from ml.errors import BVPError
from ml.settings import Settings


@click.group(name="deploy")
def cli() -> None:
    """Deploy the registered champion model."""


@cli.command("kserve")
@click.option(
    "--namespace",
    default="bvp",
    show_default=True,
    help="Namespace of the InferenceService.",
)
@click.option(
    "--name",
    default="btc-volatility",
    show_default=True,
    help="InferenceService name (also the MLServer model name).",
)
@click.option(
    "--alias",
    default=None,
    help="Registry alias to deploy [default: BVP_MLFLOW__CHAMPION_ALIAS or champion].",
)
@click.option(
    "--tracking-uri",
    envvar="BVP_MLFLOW__TRACKING_URI",
    default=None,
    help="MLflow tracking URI [default: BVP_MLFLOW__TRACKING_URI or local sqlite].",
)
@click.option(
    "--runtime",
    default="bvp-mlserver",
    show_default=True,
    help="ServingRuntime name (the chart's) or a ClusterServingRuntime.",
)
@click.option(
    "--service-account",
    default="bvp-btc-volatility",
    show_default=True,
    help="ServiceAccount carrying the S3 credentials or IRSA role.",
)
@click.option(
    "--transformer-image",
    default=None,
    help="Transformer image [default: ghcr.io/bvp-project/bvp-transformer:0.1.0].",
)
@click.option("--no-transformer", is_flag=True, help="Deploy the predictor only.")
@click.option(
    "--dry-run", is_flag=True, help="Print the manifest instead of applying it."
)
@click.option(
    "--storage-uri",
    default=None,
    help="s3:// or gs:// model folder to deploy instead of the alias's artifact "
    "location (e.g. where you copied a locally trained champion).",
)
@click.option(
    "--print-uri",
    is_flag=True,
    help="Print only the resolved storage URI (for helm --set).",
)
def kserve(
    namespace: str,
    name: str,
    alias: str | None,
    tracking_uri: str | None,
    runtime: str,
    service_account: str,
    transformer_image: str | None,
    no_transformer: bool,
    dry_run: bool,
    storage_uri: str | None,
    print_uri: bool,
) -> None:
    """Resolve the champion alias to its s3:// or gs:// artifact folder and apply (or,
    with --dry-run, print) the InferenceService."""
    from mlflow import MlflowClient

    from serving import kserve_deploy as kd

    if no_transformer and transformer_image:
        raise click.UsageError(
            "--no-transformer and --transformer-image exclude each other."
        )
    settings = Settings()
    model_name = settings.mlflow.model_name
    alias = alias or settings.mlflow.champion_alias
    try:
        if storage_uri is None:
            client = MlflowClient(tracking_uri=tracking_uri or settings.tracking_uri)
            storage_uri = kd.resolve_alias_uri(client, model_name, alias)
        uri = kd.check_storage_uri(storage_uri)
        if print_uri:
            click.echo(uri)
            return
        spec = kd.InferenceServiceSpec(
            name=name,
            namespace=namespace,
            storage_uri=uri,
            runtime=runtime,
            service_account=service_account,
            transformer_image=None
            if no_transformer
            else (transformer_image or kd.DEFAULT_TRANSFORMER_IMAGE),
        )  # the cluster's ports (8090/8091, as the chart), not this machine's overrides
        manifest = kd.build_inference_service(spec)
        if dry_run:
            click.echo(kd.to_yaml(manifest), nl=False)
            return
        click.echo(kd.apply_manifest(manifest))
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc

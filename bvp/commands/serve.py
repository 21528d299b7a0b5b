"""``bvp serve`` and ``bvp ui``: run one server in the foreground."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from ml.errors import BVPError
from ml.settings import Settings


@click.command("serve")
def serve() -> None:
    """Serve the champion with MLServer (V2 protocol) in the foreground."""
    from serving.champion import fetch_champion
    from serving.model_repo import prepare_repository

    s = Settings()
    try:
        booster, info = fetch_champion(s)
    except BVPError as exc:
        raise click.ClickException(str(exc)) from exc
    repo = prepare_repository(s, booster, info["version"], {"run_id": info["run_id"] or ""})
    click.echo(f"serving {s.mlflow.model_name} v{info['version']} from {repo} on {s.predictor_url}")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    exe = shutil.which("mlserver", path=str(Path(sys.executable).parent)) or "mlserver"
    os.execv(exe, [exe, "start", str(repo)])


@click.command("ui")
def ui() -> None:
    """Run the Gradio UI in the foreground."""
    from ui.__main__ import main

    main()

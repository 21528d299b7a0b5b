"""The local stack behind ``bvp up``/``bvp down``: champion, MLServer, (transformer), UI."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ml.errors import BVPError, ModelNotFoundError
from ml.settings import Settings
from pipelines.runner import ANSI_COLOUR
from serving import processes

log = logging.getLogger(__name__)

__all__ = [
    "SERVERS",
    "current_fingerprint",
    "ensure_champion",
    "kserve_python",
    "start_mlserver",
    "start_transformer",
    "start_ui",
    "stop_all",
]

SERVERS = ("ui", "transformer", "mlserver")
"""Names of the background servers, in stop order."""


class ServerStartError(BVPError):
    """A background server did not become ready."""

    status_code = 500

    def __init__(self, name: str, url: str, log_path: Path) -> None:
        tail = (
            "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            if log_path.exists()
            else ""
        )
        super().__init__(
            f"{name} did not become ready at {url}; last log lines ({log_path}):\n{tail}"
        )


def current_fingerprint(settings: Settings, args: dict[str, Any]) -> str:
    """Fingerprint the training pipeline would give for ``args`` (no training)."""
    from pipelines.steps import fetch_candles, spec_from_params
    from pipelines.tracking import compute_fingerprint

    with tempfile.TemporaryDirectory() as tmp:
        versions = fetch_candles(
            args.get("source", "bundled"), Path(tmp) / "d.parquet", Path(tmp) / "h.parquet",
            args.get("daily_file", ""), args.get("h4_file", ""), args.get("start", ""), args.get("end", ""),
        )  # fmt: skip
    spec = spec_from_params(json.loads(args.get("spec_json", "{}")))
    return compute_fingerprint(
        versions, asdict(spec), [float(x) for x in args["thresholds"].split(",")]
    )


def ensure_champion(
    settings: Settings, force: bool = False, echo: Any = None, **overrides: Any
) -> tuple[str, bool]:
    """Run the training pipeline locally unless the champion already matches the inputs.

    Args:
        settings: Settings of this process.
        force: Train even if the champion's fingerprint matches.
        echo: If given, the kfp.local run goes to ``<home>/logs/pipeline.log`` in a
            subprocess and only step results and progress lines are passed to ``echo``.
        overrides: Pipeline parameter overrides.

    Returns:
        (champion version, whether the pipeline ran).
    """
    from pipelines.runner import pipeline_arguments, run_local
    from pipelines.tracking import resolve_alias

    args = pipeline_arguments(settings, "training", **overrides)
    fp = current_fingerprint(settings, args)
    if not force:
        try:
            info = resolve_alias(
                settings.tracking_uri,
                settings.mlflow.model_name,
                settings.mlflow.champion_alias,
            )
        except ModelNotFoundError:
            info = None
        if info is not None and info["tags"].get("bvp.fingerprint") == fp:
            log.info(
                "champion v%s already matches data+spec+code (%s); skipping training",
                info["version"],
                fp,
            )
            return info["version"], False
    if echo is None:
        return str(run_local("training", args, settings.home / "pipeline-root")), True
    return _run_pipeline_quietly(settings, overrides, echo), True


_SHOWN = re.compile(
    r"Task .*finished with status|walk-forward .*: refit|pipeline training finished"
)


def _run_pipeline_quietly(
    settings: Settings, overrides: dict[str, Any], echo: Any
) -> str:
    """``bvp pipeline run training --local`` in a subprocess; full log to a file."""
    log_path = settings.home / "logs" / "pipeline.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "bvp", "pipeline", "run", "training", "--local"]
    cmd += [f"--param={k}={v}" for k, v in overrides.items()]
    version = ""
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            clean = ANSI_COLOUR.sub("", line).strip()
            if _SHOWN.search(clean):
                echo(f"      {clean}")
            if clean.startswith("pipeline training finished:"):
                version = clean.rsplit(":", 1)[1].strip()
        code = proc.wait()
    if code != 0 or not version:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise PipelineRunError(log_path, tail)
    return version


class PipelineRunError(BVPError):
    """The local training pipeline run failed."""

    status_code = 500

    def __init__(self, log_path: Path, tail: str) -> None:
        last = tail.splitlines()[-1] if tail.strip() else ""
        if last.startswith("Error: pipeline training: step "):  # PipelineStepError
            super().__init__(f"{last.removeprefix('Error: ')} (full log {log_path})")
        else:
            super().__init__(
                f"the training pipeline failed; full log {log_path}; last lines:\n{tail}"
            )


def start_mlserver(settings: Settings) -> tuple[str, str]:
    """Serve the champion with MLServer in the background; returns (url, version)."""
    from serving.champion import fetch_champion
    from serving.model_repo import prepare_repository

    booster, info = fetch_champion(settings)
    processes.stop(settings.home, "mlserver")
    repo = prepare_repository(
        settings, booster, info["version"], {"run_id": info["run_id"] or ""}
    )
    mlserver = (
        shutil.which("mlserver", path=str(Path(sys.executable).parent)) or "mlserver"
    )
    pid, log_path = processes.start_background(
        settings.home,
        "mlserver",
        [mlserver, "start", str(repo)],
        env={"OMP_NUM_THREADS": "1"},
        cwd=settings.home,  # MLServer writes .metrics/ into its working directory
    )  # one OpenMP thread per worker: 30 ms -> 0.25 ms per predict_proba on 2 cores
    url = settings.predictor_url
    ready = f"{url}/v2/models/{settings.mlflow.model_name}/ready"
    if not processes.wait_http(ready, timeout_s=90, pid=pid):
        raise ServerStartError("MLServer", ready, log_path)
    return url, info["version"]


def kserve_python() -> Path:
    """Interpreter of the kserve environment (``.venv-kserve`` next to ``.venv``).

    ``BVP_KSERVE_PYTHON`` overrides it. kserve cannot share an environment with
    mlserver and kfp, so the transformer always runs in its own interpreter.
    """
    env = os.environ.get("BVP_KSERVE_PYTHON")
    if env:
        return Path(env)
    return Path(sys.prefix).parent / ".venv-kserve" / "bin" / "python"


def start_transformer(settings: Settings) -> str:
    """Start the KServe transformer in front of MLServer; returns its base URL."""
    python = kserve_python()
    if not python.exists():
        raise ServerStartError(
            "transformer", f"{python} (run `make setup`)", Path("/dev/null")
        )
    processes.stop(settings.home, "transformer")
    root = Path(__file__).resolve().parents[1]
    pid, log_path = processes.start_background(
        settings.home, "transformer",
        [str(python), "-m", "serving.transformer", "--model_name", settings.mlflow.model_name],
        env={"OMP_NUM_THREADS": "1", "BVP_HOME": str(settings.home),
             "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))},
        cwd=root,
    )  # fmt: skip
    url = settings.transformer_url
    if not processes.wait_http(f"{url}/v2/health/ready", timeout_s=90, pid=pid):
        raise ServerStartError("transformer", f"{url}/v2/health/ready", log_path)
    return url


def start_ui(settings: Settings, env: dict[str, str] | None = None) -> str:
    """Start the Gradio UI in the background; returns its URL."""
    processes.stop(settings.home, "ui")
    pid, log_path = processes.start_background(
        settings.home, "ui", [sys.executable, "-m", "ui"],
        env={"GRADIO_ANALYTICS_ENABLED": "False", "BVP_HOME": str(settings.home), **(env or {})},
    )  # fmt: skip
    url = f"http://{settings.ui.host}:{settings.ui.port}{settings.ui.root_path}/"
    if not processes.wait_http(url, timeout_s=90, pid=pid):
        raise ServerStartError("UI", url, log_path)
    return url


def stop_all(settings: Settings) -> list[str]:
    """Stop every background server this home started; returns the names stopped."""
    return [name for name in SERVERS if processes.stop(settings.home, name)]

"""Real local servers for the serving bench and tests: a small model, MLServer, transformer.

Everything runs on 127.0.0.1 with ports chosen by the caller; the model is a real
``XGBClassifier`` fitted on real features of the bundled candles (a 2018-2019 slice,
30 trees: about a second).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd

from ml.data import OPEN_TIME, bundled_path, read_candles
from ml.labels import DEFAULT_THRESHOLDS
from ml.models import BOOSTER_FILE, RegimeModelSpec, fit_regime_model, training_rows
from ml.panel import build_panel

__all__ = [
    "ROOT",
    "LocalServer",
    "kserve_python",
    "mlserver_cmd",
    "server_env",
    "start",
    "train_small_model",
    "transformer_cmd",
]

ROOT = Path(__file__).resolve().parents[1]


def kserve_python() -> Path:
    """Python of the kserve environment (``.venv-kserve``)."""
    return Path(
        os.environ.get("BVP_KSERVE_PYTHON", ROOT / ".venv-kserve" / "bin" / "python")
    )


def train_small_model(out_dir: Path, end: str = "2019-12-31", n_estimators: int = 30,
                      seed: int = 7) -> Path:  # fmt: skip
    """Fit a small regime classifier on 2018..``end`` and save ``model.ubj``; returns it.

    The structural model of the same data is written beside it (``structural.json``),
    as the pipeline's train step does.
    """
    from pipelines.steps import train_structural

    daily = read_candles(bundled_path("1d"))
    h4 = read_candles(bundled_path("4h"))
    cut = pd.Timestamp(end) + pd.Timedelta(days=1)
    daily, h4 = daily[daily[OPEN_TIME] < cut], h4[h4[OPEN_TIME] < cut]
    panel = build_panel(daily, h4, DEFAULT_THRESHOLDS)
    x, y = training_rows(panel, len(panel.days) - 1)
    spec = RegimeModelSpec(n_estimators=n_estimators, n_jobs=1, seed=seed)
    model = fit_regime_model(x, y, spec)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_model(str(out_dir / BOOSTER_FILE))
    train_structural(panel, out_dir)
    return out_dir / BOOSTER_FILE


def server_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment of a child server: one OpenMP thread, this home, no BVP_* leaks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BVP_")}
    env.update({"OMP_NUM_THREADS": "1", "BVP_HOME": str(home), "PYTHONPATH": str(ROOT)})
    env.update(extra)
    return env


@dataclass
class LocalServer:
    """A started child process and where it answers."""

    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, timeout_s: float = 15.0) -> None:
        """Terminate and reap the process (its own process group)."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the process group (a crash: no graceful shutdown) and reap it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()

    def tail(self, n: int = 30) -> str:
        """Last log lines (for failure messages)."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def start(cmd: list[str], env: dict[str, str], log: Path, url: str, ready_path: str,
          timeout_s: float = 90.0) -> LocalServer:  # fmt: skip
    """Start ``cmd`` and wait until ``url + ready_path`` answers 200.

    Raises:
        RuntimeError: Something already answers at ``url`` (another server on that
            port would pass the readiness check), the process exited, or timeout.
    """
    try:
        httpx.get(url, timeout=0.5)
    except httpx.HTTPError:
        pass
    else:
        raise RuntimeError(f"{url} already answers: pick free ports")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=ROOT, start_new_session=True)  # fmt: skip
    server = LocalServer(proc, url, log)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{cmd[0]} exited with {proc.returncode}:\n{server.tail()}"
                )
            try:
                if httpx.get(url + ready_path, timeout=1.0).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    except BaseException:  # interrupted or exited: leave no orphan behind
        server.kill()
        raise
    server.stop()
    raise RuntimeError(
        f"{url}{ready_path} not ready after {timeout_s} s:\n{server.tail()}"
    )


def mlserver_cmd(repo: Path) -> list[str]:
    """``mlserver start <repo>`` from this interpreter's environment."""
    return [str(Path(sys.executable).parent / "mlserver"), "start", str(repo)]


def transformer_cmd(model_name: str) -> list[str]:
    """``python -m serving.transformer`` in the kserve environment."""
    return [
        str(kserve_python()),
        "-m",
        "serving.transformer",
        "--model_name",
        model_name,
    ]

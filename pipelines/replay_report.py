"""Replay adapter: run ``ml.replay`` on candles and write the CSV, summary and plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ml.replay import POLICIES, ReplayConfig, replay, summarize_replay
from pipelines.steps import atomic_write_bytes

__all__ = ["REPLAY_CSV", "REPLAY_PNG", "REPLAY_SUMMARY", "plot_replay", "write_replay"]

REPLAY_CSV = "replay.csv"
REPLAY_PNG = "replay.png"
REPLAY_SUMMARY = "replay_summary.json"


def plot_replay(frame: pd.DataFrame, path: Path, rolling: int = 8) -> None:
    """Served log loss per policy (rolling mean over ``rolling`` periods) + events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = pd.to_datetime(frame["date"])
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=110)
    for name in POLICIES:
        ax.plot(dates, frame[f"ll_{name}"].rolling(rolling, min_periods=1).mean(),
                label=name, lw=1.4 if name == "monitored" else 1.0)  # fmt: skip
    for col, marker, color, label in (("retrain", "v", "tab:orange", "retrain decided"),
                                      ("promoted", "^", "tab:green", "promoted"),
                                      ("seed_fires", "x", "tab:red", "seed rule fired")):  # fmt: skip
        if col in frame and frame[col].any():
            sel = frame[col].astype(bool)
            ax.scatter(dates[sel], frame.loc[sel, "ll_monitored"], marker=marker, color=color,
                       zorder=3, label=label)  # fmt: skip
    ax.set_ylabel(f"served log loss ({rolling}-period mean)")
    ax.set_title("Replay: served model vs never / weekly retraining / seed rule")
    ax.legend(loc="upper left", ncol=4, fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_replay(
    panel: Any, cfg: ReplayConfig, out_dir: Path, progress: Any = None
) -> dict[str, Any]:
    """Run the replay and write ``replay.csv``, ``replay_summary.json``, ``replay.png``."""
    frame = replay(panel, cfg, progress=progress)
    summary = summarize_replay(frame)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out_dir / REPLAY_CSV, frame.to_csv(index=False).encode())
    atomic_write_bytes(out_dir / REPLAY_SUMMARY, json.dumps(summary, indent=2).encode())
    plot_replay(frame, out_dir / REPLAY_PNG)
    return {
        **summary,
        "csv": str(out_dir / REPLAY_CSV),
        "png": str(out_dir / REPLAY_PNG),
    }

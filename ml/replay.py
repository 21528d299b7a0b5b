"""Replay the monitoring loop over history, offline: what would the policies have done?

Every ``every_days`` from ``start`` the replay takes the decision the monitoring
pipeline would have taken with only the data known that day, and serves a model until
the next decision. Four policies share the same fitted models:

* ``monitored``: :func:`ml.monitoring.decide` + :func:`ml.monitoring.gate` (the product);
* ``never``: the model fitted on ``start`` forever;
* ``weekly``: refit at every decision day, no gate;
* ``seed``: the seed's metric-floor rule, deploying whatever it retrained (no gate).

Models are keyed by their cutoff day (fitted on labels known that day), so the gate's
held-out challenger (cutoff ``d - gate_days``) is the weekly model of ``gate_days``
earlier when ``gate_days`` is a multiple of ``every_days``: one fit per decision day.

Hindsight check: a retrain at d "helps" when the model refitted at d beats the policy's
champion on the next ``gate_days`` origins (all labels known by the end of the data)
by the same gate test. A seed-rule firing that does not help is a false alarm.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb

from ml._typing import FloatArray, IntArray
from ml.assessment import assess_champion, gate_losses
from ml.features import FEATURE_NAMES
from ml.models import RegimeModelSpec, fit_regime_model
from ml.monitoring import daily_log_losses, decide, feature_drift, gate
from ml.panel import Panel

__all__ = ["POLICIES", "ReplayConfig", "replay", "summarize_replay"]

POLICIES = ("monitored", "never", "weekly", "seed")
REPLAY_SPEC = RegimeModelSpec(n_estimators=100, learning_rate=0.1, n_jobs=1)
"""Smaller and faster than the production spec: ~1 s per fit on one thread."""


@dataclass(frozen=True)
class ReplayConfig:
    """Knobs of the replay (defaults mirror ``MonitoringSettings``)."""

    start: str = "2022-01-01"
    every_days: int = 7
    window_days: int = 180
    gate_days: int = 91
    rule: str = "drift_and_degradation"
    min_skill: float = 0.0
    severe_skill: float = -0.25
    min_label_days: int = 30
    drift_share: float = 0.5
    drift_threshold: float = 0.1
    gate_test: str = "dm_hac"
    alpha: float = 0.05
    stride: int = 3
    """Keep every stride-th origin and horizon of the training rows (speed)."""
    spec: RegimeModelSpec = field(default_factory=lambda: REPLAY_SPEC)


class _Models:
    """Fits on demand, one model per cutoff day; predicts origins x horizons."""

    def __init__(self, panel: Panel, spec: RegimeModelSpec, stride: int) -> None:
        self.panel, self.spec, self.stride = panel, spec, stride
        self.fitted: dict[int, xgb.XGBClassifier] = {}

    def rows(self, cutoff: int) -> np.ndarray:
        """Mask of the (origin, horizon) rows the model fitted at ``cutoff`` learns from."""
        mask = self.panel.label_known(cutoff).copy()
        mask[np.arange(len(mask)) % self.stride != 0] = False
        mask[:, np.arange(mask.shape[1]) % self.stride != 0] = False
        return mask

    def first_cutoff(self) -> int | None:
        """Earliest cutoff whose rows hold every regime (None: the data never does)."""
        return self.panel.first_full_cutoff(self.rows(len(self.panel.days)))

    def get(self, cutoff: int) -> xgb.XGBClassifier:
        if cutoff not in self.fitted:
            mask, p = self.rows(cutoff), self.panel
            self.fitted[cutoff] = fit_regime_model(p.x[mask], p.labels[mask], self.spec)
        return self.fitted[cutoff]

    def predict(self, cutoff: int, origins: IntArray) -> FloatArray:
        x = self.panel.x[origins]
        n, h, k = x.shape
        p = self.get(cutoff).predict_proba(x.reshape(n * h, len(FEATURE_NAMES)))
        return np.asarray(p, dtype="float64").reshape(n, h, 3)


def _served_loss(models: _Models, cutoff: int, origins: IntArray) -> float:
    labels = models.panel.labels[origins]
    ok = labels >= 0
    if not ok.any():
        return float("nan")
    losses = daily_log_losses(models.predict(cutoff, origins), labels, ok)
    return float(
        np.average(losses[ok.any(axis=1)], weights=ok.sum(axis=1)[ok.any(axis=1)])
    )


def _helps(models: _Models, cfg: ReplayConfig, champion: int, d: int) -> float:
    """Hindsight: does the model refitted at d beat ``champion`` on the next days?

    Returns 1.0 / 0.0, or NaN when too few future labels exist to tell.
    """
    n = len(models.panel.days)
    origins = np.arange(d, min(d + cfg.gate_days, n))
    labels = models.panel.labels[origins]
    ok = labels >= 0
    if champion == d or ok.any(axis=1).sum() < 30:
        return float("nan")
    lc = daily_log_losses(models.predict(champion, origins), labels, ok)
    ln = daily_log_losses(models.predict(d, origins), labels, ok)
    return float(gate(lc, ln, cfg.gate_test, cfg.alpha).promote)


def _monitor(
    models: _Models, cfg: ReplayConfig, champion: int, d: int, rule: str
) -> tuple[Any, Any, Any]:
    a = assess_champion(
        models.panel,
        lambda o: models.predict(champion, o),
        champion,
        d,
        cfg.window_days,
    )
    drift = feature_drift(a.reference, a.current, cfg.drift_threshold, cfg.drift_share)
    dec = decide(
        drift, a.performance, rule, cfg.min_skill, cfg.severe_skill, cfg.min_label_days
    )
    return drift, a.performance, dec


def _gate_at(models: _Models, cfg: ReplayConfig, champion: int, d: int) -> Any:
    lc, lh = gate_losses(
        models.panel, lambda o: models.predict(champion, o),
        lambda o: models.predict(d - cfg.gate_days, o), d, cfg.gate_days,
    )  # fmt: skip
    return gate(lc, lh, cfg.gate_test, cfg.alpha)


def replay(
    panel: Panel,
    cfg: ReplayConfig | None = None,
    end: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Run the four policies over history; one row per decision day.

    Args:
        panel: The data (bundled candles by default in the CLI).
        cfg: Replay configuration.
        end: Last decision day (ISO; default: the last day of the panel).
        progress: Called with (decision number, total).

    Returns:
        Frame with the monitored policy's signals, decision, gate outcome, the seed
        rule's verdict, hindsight checks and each policy's served log loss
        (``ll_<policy>``: mean over that period's origins and horizons, all labels).
    """
    from ml.data import parse_day
    from ml.errors import DataValidationError

    cfg = cfg or ReplayConfig()
    start = parse_day(cfg.start, "start")
    first = max(panel.day_index(start), panel.first_usable + cfg.window_days)
    last = (
        len(panel.days) - 1
        if end is None
        else min(panel.day_index(parse_day(end, "end")), len(panel.days) - 1)
    )
    days = list(range(first, last + 1, cfg.every_days))
    if len(days) < 2:  # the first decision day only sets the baseline
        latest = last - cfg.every_days
        raise DataValidationError(
            "start", cfg.start,
            f"expected {panel.days[max(latest, 0)].date()} or earlier: a replay needs two "
            f"decision days {cfg.every_days} days apart up to {panel.days[last].date()}",
        )  # fmt: skip
    models = _Models(panel, cfg.spec, cfg.stride)
    ready = models.first_cutoff()
    if ready is None or ready > first:  # the first model is fitted on labels known then
        rule = "the labels never hold all three regimes (low, normal, high)"
        if ready is not None:
            rule = (f"expected {panel.days[min(ready, len(panel.days) - 1)].date()} or "
                    f"later: the regime labels known by {panel.days[first].date()} do "
                    "not yet hold all three regimes (low, normal, high), and the first "
                    "model is fitted on them")  # fmt: skip
        raise DataValidationError("start", cfg.start, rule)
    mon = seed = never = first
    rows = []
    for k, d in enumerate(days):
        row: dict[str, Any] = {"date": panel.days[d].date().isoformat()}
        if k > 0:
            drift, perf, dec = _monitor(models, cfg, mon, d, cfg.rule)
            row.update(drift_share=drift.share, dataset_drift=drift.dataset_drift,
                       skill=perf.skill, window_log_loss=perf.log_loss,
                       retrain=dec.retrain, reason=dec.reason)  # fmt: skip
            row["retrain_helps"] = _helps(models, cfg, mon, d)
            if dec.retrain:
                g = _gate_at(models, cfg, mon, d)
                row.update(gate_p=g.p_value, gate_improvement=g.mean_improvement,
                           promoted=g.promote, gate_reason=g.reason)  # fmt: skip
                mon = d if g.promote else mon
            _, _, sdec = _monitor(models, cfg, seed, d, "seed")
            row.update(seed_fires=sdec.retrain, seed_reason=sdec.reason,
                       seed_retrain_helps=_helps(models, cfg, seed, d))  # fmt: skip
            seed = d if sdec.retrain else seed
        nxt = days[k + 1] if k + 1 < len(days) else last + 1
        served = np.arange(d, nxt)
        row.update(monitored_model=panel.days[mon].date().isoformat(),
                   seed_model=panel.days[seed].date().isoformat())  # fmt: skip
        for name, cut in (
            ("monitored", mon),
            ("never", never),
            ("weekly", d),
            ("seed", seed),
        ):
            row[f"ll_{name}"] = _served_loss(models, cut, served)
        rows.append(row)
        if progress is not None:
            progress(k + 1, len(days))
    frame = pd.DataFrame(rows)
    for col in ("retrain", "promoted", "seed_fires", "dataset_drift"):
        if col in frame:
            frame[col] = frame[col].astype("boolean").fillna(False).astype(bool)
    return frame


def summarize_replay(frame: pd.DataFrame) -> dict[str, Any]:
    """Counts and mean served log loss per policy (mean over decision periods)."""
    seed_fires = frame.get("seed_fires", pd.Series(dtype=bool)).astype(bool)
    seed_known = (
        seed_fires & frame.get("seed_retrain_helps", pd.Series(dtype=float)).notna()
    )
    seed_false = seed_known & (frame.get("seed_retrain_helps") == 0)
    retrain = frame.get("retrain", pd.Series(dtype=bool)).astype(bool)
    mon_known = retrain & frame.get("retrain_helps", pd.Series(dtype=float)).notna()
    out: dict[str, Any] = {
        "decisions": int(len(frame) - 1),
        "retrains": int(retrain.sum()),
        "promotions": int(frame.get("promoted", pd.Series(dtype=bool)).astype(bool).sum()),
        "monitored_retrains_that_helped": int((mon_known & (frame["retrain_helps"] == 1)).sum()),
        "seed_rule_fires": int(seed_fires.sum()),
        "seed_rule_false_alarms": int(seed_false.sum()),
        "seed_rule_false_alarm_rate": float(seed_false.sum() / seed_known.sum()) if seed_known.sum() else float("nan"),
        "weeks_where_retraining_helped": int((frame["retrain_helps"] == 1).sum()) if "retrain_helps" in frame else 0,
    }  # fmt: skip
    for name in POLICIES:
        out[f"mean_log_loss_{name}"] = float(frame[f"ll_{name}"].mean())
    return out


def with_overrides(cfg: ReplayConfig, **changes: Any) -> ReplayConfig:
    """Copy of ``cfg`` with fields replaced (``n_estimators`` etc. go to the spec)."""
    spec_fields = RegimeModelSpec.__dataclass_fields__
    spec_changes = {k: changes.pop(k) for k in list(changes) if k in spec_fields}
    return replace(cfg, spec=replace(cfg.spec, **spec_changes), **changes)

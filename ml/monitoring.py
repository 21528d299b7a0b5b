"""Monitoring decisions: feature drift, matured-label performance, retrain rule, gate.

Pure functions over frames and arrays; the Evidently report and MLflow logging live in
``pipelines/monitor.py``. Three rules keep the loop honest:

* Matured labels only: the forecast made at origin t for horizon h is scored only once
  t + h <= asof (its V30 target is known). Nothing else enters a performance number.
* Drift alone never retrains (volatility features drift with every regime change);
  it must come with degraded skill, see :func:`decide`.
* A challenger replaces the champion only when a one-sided paired test on per-day log
  loss over the same window says it is better, see :func:`gate`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ml._typing import FloatArray, IntArray
from ml.errors import ConfigError
from ml.evaluation import EPS, confusion, macro_f1

__all__ = [
    "DECISION_RULES",
    "GATE_TESTS",
    "SEED_THRESHOLDS",
    "Decision",
    "DecisionRule",
    "DriftSummary",
    "GateResult",
    "GateTest",
    "PerformanceSummary",
    "climatology",
    "daily_log_losses",
    "decide",
    "feature_drift",
    "gate",
    "matured_mask",
    "summarize_performance",
    "weighted_f1",
]

DecisionRule = Literal[
    "drift_and_degradation", "degradation", "drift", "seed", "always", "never"
]
DECISION_RULES: tuple[str, ...] = DecisionRule.__args__  # type: ignore[attr-defined]
GateTest = Literal["dm_hac", "block_wilcoxon"]
GATE_TESTS: tuple[str, ...] = GateTest.__args__  # type: ignore[attr-defined]
SEED_THRESHOLDS = {"macro_f1": 0.40, "weighted_f1": 0.45, "accuracy": 0.40}
"""The seed's retrain rule: retrain if ANY metric over the window is below its floor."""
WASSERSTEIN_THRESHOLD = 0.1
"""Evidently's default for numerical columns when the reference has > 1000 rows."""


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(name, value, f"one of {', '.join(allowed)}")


# --- drift ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftSummary:
    """Per-column drift between a reference and a current window."""

    method: str
    n_reference: int
    n_current: int
    scores: dict[str, float]
    """Drift score per tested column (larger = more drift)."""
    drifted: tuple[str, ...]
    skipped: dict[str, str]
    """Columns not tested, with the reason (all-NaN, constant, too few values)."""
    share: float
    """Drifted share of the tested columns (0 when nothing was tested)."""
    drift_share: float
    """Share at or above which the dataset counts as drifted."""
    enough_data: bool
    """False when the current window is too small for a verdict."""

    @property
    def dataset_drift(self) -> bool:
        """Drift verdict: enough data and share >= drift_share."""
        return self.enough_data and bool(self.scores) and self.share >= self.drift_share

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (with the verdict)."""
        return {**asdict(self), "dataset_drift": self.dataset_drift}


def usable_columns(
    reference: pd.DataFrame, current: pd.DataFrame, min_rows: int
) -> tuple[list[str], dict[str, str]]:
    """Columns both windows can be compared on, and why the others cannot.

    A column is skipped when either window has fewer than ``min_rows`` finite values
    (all-NaN included) or the reference is constant (no scale to normalise by).
    """
    keep, skipped = [], {}
    for col in reference.columns:
        if col not in current.columns:
            skipped[col] = "missing from the current window"
            continue
        ref = pd.to_numeric(reference[col], errors="coerce")
        cur = pd.to_numeric(current[col], errors="coerce")
        n_ref, n_cur = int(np.isfinite(ref).sum()), int(np.isfinite(cur).sum())
        if n_ref < min_rows or n_cur < min_rows:
            skipped[col] = (
                f"finite values: reference {n_ref}, current {n_cur} (< {min_rows})"
            )
        elif float(ref[np.isfinite(ref)].std(ddof=0)) == 0.0:
            skipped[col] = "constant in the reference window"
        else:
            keep.append(col)
    return keep, skipped


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    threshold: float = WASSERSTEIN_THRESHOLD,
    drift_share: float = 0.5,
    min_rows: int = 30,
) -> DriftSummary:
    """Normalised Wasserstein drift per column (Evidently's default method here).

    Args:
        reference: Reference rows (e.g. daily features over the training window).
        current: Recent rows, same columns.
        threshold: A column drifts when its score is >= this.
        drift_share: Dataset drift when the drifted share is >= this.
        min_rows: Fewest finite values per window for a column to be tested; the
            verdict needs at least this many current rows (small windows swing).

    Returns:
        The summary; never raises on empty, small or all-NaN inputs.

    Notes:
        score = W1(ref, cur) / std(ref), W1 the earth mover's distance between the
        empirical distributions: "the current window moved by score reference
        standard deviations".
    """
    cols, skipped = usable_columns(reference, current, min_rows)
    scores: dict[str, float] = {}
    for col in cols:
        ref = reference[col].to_numpy(dtype="float64")
        cur = current[col].to_numpy(dtype="float64")
        ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
        scores[col] = float(stats.wasserstein_distance(ref, cur) / ref.std(ddof=0))
    drifted = tuple(c for c, s in scores.items() if s >= threshold)
    return DriftSummary(
        method=f"wasserstein_normed>={threshold}",
        n_reference=len(reference),
        n_current=len(current),
        scores=scores,
        drifted=drifted,
        skipped=skipped,
        share=len(drifted) / len(scores) if scores else 0.0,
        drift_share=drift_share,
        enough_data=len(current) >= min_rows,
    )


# --- performance on matured labels ---------------------------------------------------


def matured_mask(origins: IntArray, labels: IntArray, asof: int) -> np.ndarray:
    """Pairs (origin t, horizon h) whose label was known on day index ``asof``.

    Args:
        origins: Origin day indices, shape (n,).
        labels: Regime codes, shape (n, H); -1 where unknown.
        asof: Day index of "now".

    Returns:
        Boolean (n, H): t + h <= asof and the label exists.
    """
    h = np.arange(1, labels.shape[1] + 1)[None, :]
    return (np.asarray(origins)[:, None] + h <= asof) & (labels >= 0)


def _pair_losses(proba: FloatArray, labels: IntArray) -> FloatArray:
    """Log loss of each (origin, horizon) pair; NaN where the label is -1."""
    p = np.clip(proba / proba.sum(axis=-1, keepdims=True), EPS, 1.0)
    idx = np.where(labels >= 0, labels, 0)
    loss = -np.log(np.take_along_axis(p, idx[..., None], axis=-1)[..., 0])
    return np.where(labels >= 0, loss, np.nan)


def daily_log_losses(
    proba: FloatArray, labels: IntArray, mask: np.ndarray
) -> FloatArray:
    """Mean log loss per origin day over its matured horizons (NaN if none).

    Args:
        proba: Probabilities (n, H, 3).
        labels: Regime codes (n, H).
        mask: Pairs to score, e.g. from :func:`matured_mask`.
    """
    loss = np.where(mask, _pair_losses(proba, labels), np.nan)
    counts = mask.sum(axis=1)
    sums = np.nansum(loss, axis=1)
    return np.divide(sums, counts, out=np.full(len(counts), np.nan), where=counts > 0)


def weighted_f1(y: IntArray, pred: IntArray, k: int = 3) -> float:
    """Per-class F1 averaged with the true-class supports as weights."""
    m = confusion(y, pred, k)
    tp = np.diag(m).astype(float)
    support, denom = m.sum(axis=1), m.sum(axis=1) + m.sum(axis=0)
    f1 = np.divide(2 * tp, denom, out=np.zeros(k), where=denom > 0)
    return float((f1 * support).sum() / support.sum()) if support.sum() else 0.0


def climatology(labels: IntArray, k: int = 3) -> FloatArray:
    """Class frequencies of known labels (add-one smoothed), the no-skill forecast."""
    y = labels[labels >= 0]
    counts = np.bincount(y, minlength=k).astype("float64") + 1.0
    return counts / counts.sum()


@dataclass(frozen=True)
class PerformanceSummary:
    """The served model on matured labels of one window."""

    n_days: int
    """Origin days with at least one matured label."""
    n_pairs: int
    log_loss: float
    reference_log_loss: float
    """Log loss of the climatology forecast on the same pairs."""
    macro_f1: float
    weighted_f1: float
    accuracy: float

    @property
    def skill(self) -> float:
        """1 - log_loss / reference_log_loss: > 0 beats climatology, 0 ties, < 0 loses."""
        if not np.isfinite(self.log_loss) or self.reference_log_loss <= 0:
            return float("nan")
        return 1.0 - self.log_loss / self.reference_log_loss

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (with skill)."""
        return {**asdict(self), "skill": self.skill}


def summarize_performance(
    proba: FloatArray, labels: IntArray, mask: np.ndarray, reference: FloatArray
) -> PerformanceSummary:
    """Log loss, skill and the seed's metrics over the masked (matured) pairs.

    Args:
        proba: Probabilities (n, H, 3) of the served model.
        labels: Regime codes (n, H).
        mask: Matured pairs of the window (:func:`matured_mask`).
        reference: No-skill probabilities (3,), e.g. :func:`climatology` of the
            champion's training labels.
    """
    y, p = labels[mask], proba[mask]
    if len(y) == 0:
        nan = float("nan")
        return PerformanceSummary(0, 0, nan, nan, nan, nan, nan)
    pred = p.argmax(axis=1)
    ll = float(np.mean(_pair_losses(p, y)))
    ref = float(np.mean(_pair_losses(np.broadcast_to(reference, p.shape), y)))
    return PerformanceSummary(
        n_days=int(mask.any(axis=1).sum()), n_pairs=len(y), log_loss=ll,
        reference_log_loss=ref, macro_f1=macro_f1(y, pred),
        weighted_f1=weighted_f1(y, pred), accuracy=float(np.mean(pred == y)),
    )  # fmt: skip


# --- the retrain decision ------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Whether to retrain, and why."""

    retrain: bool
    reason: str
    rule: str
    signals: dict[str, Any] = field(default_factory=dict)


def seed_rule_fires(perf: PerformanceSummary) -> list[str]:
    """Metrics below the seed's floors (empty list: the seed rule stays quiet)."""
    values = asdict(perf)
    return [
        f"{m} {values[m]:.3f} < {floor:.2f}"
        for m, floor in SEED_THRESHOLDS.items()
        if np.isfinite(values[m]) and values[m] < floor
    ]


def decide(
    drift: DriftSummary,
    perf: PerformanceSummary,
    rule: str = "drift_and_degradation",
    min_skill: float = 0.0,
    severe_skill: float = -0.25,
    min_label_days: int = 30,
) -> Decision:
    """The retrain rule.

    ``drift_and_degradation`` (default) retrains when the features drifted AND the
    champion's skill over climatology on matured labels fell below ``min_skill``, or
    when skill fell below ``severe_skill`` whatever the drift. Drift alone only warns:
    volatility features drift with every regime change while the model keeps working.
    ``degradation`` ignores drift, ``drift`` ignores performance, ``seed`` is the seed
    project's rule (:data:`SEED_THRESHOLDS`), ``always``/``never`` are the reference
    policies. Performance-based rules need ``min_label_days`` origin days with matured
    labels; with fewer they keep the champion.

    Args:
        drift: Feature drift of the recent window.
        perf: Champion performance on the window's matured labels.
        rule: One of :data:`DECISION_RULES`.
        min_skill: Skill below which the champion counts as degraded.
        severe_skill: Skill below which it is retrained even without drift.
        min_label_days: Fewest matured origin days for a performance verdict.

    Returns:
        The decision, a one-line reason and the signals behind it.
    """
    _check_choice("rule", rule, DECISION_RULES)
    skill = perf.skill
    signals = {"drift_share": drift.share, "dataset_drift": drift.dataset_drift,
               "skill": skill, "log_loss": perf.log_loss, "label_days": perf.n_days}  # fmt: skip
    drift_txt = (
        f"drift share {drift.share:.2f} (threshold {drift.drift_share:.2f}, "
        f"{drift.n_current} current rows)"
    )
    if rule in ("always", "never"):
        return Decision(rule == "always", f"policy {rule}", rule, signals)
    if rule == "drift":
        return Decision(drift.dataset_drift, drift_txt, rule, signals)
    if perf.n_days < min_label_days or not np.isfinite(skill):
        return Decision(False, f"only {perf.n_days} matured label days "
                        f"(< {min_label_days}): keep the champion; {drift_txt}", rule, signals)  # fmt: skip
    skill_txt = f"skill {skill:.3f} over {perf.n_days} matured days"
    if rule == "seed":
        fired = seed_rule_fires(perf)
        return Decision(
            bool(fired), "; ".join(fired) or "seed metrics above floors", rule, signals
        )
    degraded, severe = skill < min_skill, skill < severe_skill
    if rule == "degradation":
        return Decision(
            degraded, f"{skill_txt} vs min_skill {min_skill:.2f}", rule, signals
        )
    if severe:
        return Decision(
            True, f"{skill_txt} < severe_skill {severe_skill:.2f}", rule, signals
        )
    if degraded and drift.dataset_drift:
        return Decision(
            True, f"{drift_txt} and {skill_txt} < {min_skill:.2f}", rule, signals
        )
    why = "degraded without drift" if degraded else "not degraded"
    return Decision(False, f"{why}: {skill_txt}; {drift_txt}", rule, signals)


# --- the champion/challenger gate ----------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """Outcome of the champion/challenger test."""

    promote: bool
    reason: str
    test: str
    statistic: float
    p_value: float
    mean_improvement: float
    """Mean per-day log loss of the champion minus the challenger (> 0: challenger better)."""
    n_days: int


def _dm_hac(d: FloatArray, lag: int) -> tuple[float, float]:
    """One-sided Diebold-Mariano test of mean(d) > 0 with a Bartlett HAC variance."""
    n = len(d)
    lag = max(0, min(lag, n - 2))
    e = d - d.mean()
    var = float(e @ e) / n
    for k in range(1, lag + 1):
        var += 2 * (1 - k / (lag + 1)) * float(e[k:] @ e[:-k]) / n
    if var <= 0:
        return (float("inf") if d.mean() > 0 else 0.0), (0.0 if d.mean() > 0 else 1.0)
    h = lag + 1
    hln = np.sqrt(max((n + 1 - 2 * h + h * (h - 1) / n) / n, 1e-12))
    stat = float(d.mean() / np.sqrt(var / n) * hln)
    return stat, float(stats.t.sf(stat, df=n - 1))


def _block_wilcoxon(d: FloatArray, block_days: int) -> tuple[float, float]:
    """One-sided Wilcoxon signed-rank test on means of non-overlapping blocks."""
    nb = len(d) // block_days
    blocks = d[: nb * block_days].reshape(nb, block_days).mean(axis=1)
    if nb < 6 or np.all(blocks == 0):
        return 0.0, 1.0
    res = stats.wilcoxon(blocks, alternative="greater")
    return float(res.statistic), float(res.pvalue)


def gate(
    champion_losses: FloatArray,
    challenger_losses: FloatArray,
    test: str = "dm_hac",
    alpha: float = 0.05,
    min_days: int = 30,
    min_improvement: float = 0.0,
    lag: int = 29,
    block_days: int = 7,
) -> GateResult:
    """Promote the challenger only if it is significantly better on the same days.

    Args:
        champion_losses: Per-origin-day log loss of the champion.
        challenger_losses: Same days, same matured pairs, for the challenger (which
            must not have seen these labels in training).
        test: ``dm_hac`` (default) or ``block_wilcoxon``.
        alpha: One-sided significance level.
        min_days: Fewest paired days; fewer means "not enough evidence, keep".
        min_improvement: Smallest mean log-loss improvement worth a swap.
        lag: HAC truncation lag for ``dm_hac`` (29: a day's 30 horizons overlap the
            next 29 days' targets, so differences are autocorrelated that far).
        block_days: Block length for ``block_wilcoxon``.

    Returns:
        Decision, reason, statistic and p-value.

    Notes:
        d_t = L_champion(t) - L_challenger(t). ``dm_hac``: Diebold-Mariano
        S = mean(d) / sqrt(HAC var / n) with Bartlett weights up to ``lag`` and the
        Harvey-Leybourne-Newbold small-sample factor, compared with Student t(n-1).
        ``block_wilcoxon``: signed-rank test on the means of consecutive
        ``block_days``-day blocks (needs >= 6 blocks). A plain t or Wilcoxon test on
        daily values would treat 30-day-overlapping targets as independent and
        promote on noise.
    """
    _check_choice("test", test, GATE_TESTS)
    a = np.asarray(champion_losses, dtype="float64")
    b = np.asarray(challenger_losses, dtype="float64")
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    n = len(d)
    if n < min_days:
        return GateResult(False, f"only {n} paired days (< {min_days}): keep the champion",
                          test, float("nan"), float("nan"), float(d.mean()) if n else float("nan"), n)  # fmt: skip
    stat, p = _dm_hac(d, lag) if test == "dm_hac" else _block_wilcoxon(d, block_days)
    gain = float(d.mean())
    promote = p < alpha and gain > min_improvement
    verdict = "promote" if promote else "keep the champion"
    reason = (f"{test}: mean log-loss improvement {gain:+.4f} over {n} days, "
              f"statistic {stat:.2f}, p={p:.3g} (alpha {alpha}): {verdict}")  # fmt: skip
    return GateResult(promote, reason, test, stat, p, gain, n)

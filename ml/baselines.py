"""Baselines evaluated on the walk-forward protocol, next to the regime model.

Each class follows :class:`ml.models.Forecaster`: ``fit(panel, cutoff)`` uses only what
was known on day index ``cutoff`` and ``predict_proba(panel, origins)`` returns
(len(origins), H, 3) probabilities of Low/Normal/High V30 on day t+h, using for origin
t only data up to t. The volatility models (HAR-RV, GARCH(1,1)-t) live in
:mod:`ml.vol_baselines` and also forecast the realised-volatility level.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ml._typing import FloatArray, IntArray
from ml.labels import label_regimes
from ml.models import Forecaster
from ml.panel import Panel
from ml.vol_baselines import GarchTForecaster, HARForecaster, smoothed_frequencies

__all__ = [
    "BASELINES",
    "SEED_FEATURES",
    "ClimatologyForecaster",
    "GarchTForecaster",
    "HARForecaster",
    "PersistenceForecaster",
    "SeedLogisticForecaster",
    "seed_features",
]

N_CLASSES = 3
SEED_FEATURES: tuple[str, ...] = (
    "v30",
    "v30_lag7",
    "v30_lag14",
    "v30_lag30",
    "parkinson_30d",
    "garman_klass_30d",
    "rogers_satchell_30d",
    "mean_ret_30d",
)
"""The seed project's eight 30-day volatility features (a reconstruction)."""


def _need_fit(obj: object, attr: str) -> None:
    if getattr(obj, attr) is None:
        raise RuntimeError(f"{type(obj).__name__}: call fit() before predicting")


class ClimatologyForecaster:
    """Unconditional regime frequencies per horizon.

    Notes:
        p_h(k) = (n_hk + 1) / (n_h + 3), n_hk the training labels of class k at
        horizon h known at the cutoff (i + h <= cutoff). Same for every origin.
    """

    name = "climatology"

    def __init__(self) -> None:
        self.proba_: FloatArray | None = None

    def fit(self, panel: Panel, cutoff: int) -> None:
        """Count the known labels per horizon."""
        known = panel.label_known(cutoff)
        counts = np.stack(
            [np.bincount(panel.labels[known[:, j], j], minlength=N_CLASSES)
             for j in range(known.shape[1])]
        )  # fmt: skip
        self.proba_ = smoothed_frequencies(counts)

    def predict_proba(self, panel: Panel, origins: IntArray) -> FloatArray:
        """The fitted frequencies, repeated for every origin: (n, H, 3)."""
        _need_fit(self, "proba_")
        assert self.proba_ is not None
        return np.broadcast_to(self.proba_, (len(origins), *self.proba_.shape)).copy()


class PersistenceForecaster:
    """Today's regime carried forward, made probabilistic by transition frequencies.

    Notes:
        The state on origin day t is the regime of V30(t). For each horizon h the
        matrix P_h[a, b] = (n_h(a -> b) + 1) / (n_h(a) + 3) counts training pairs
        (i, i + h) with i + h <= cutoff whose regime went from a on day i to b on
        day i + h. The forecast for origin t is the row P_h[regime(t)]. A point
        (argmax) forecast is the plain "no change" rule whenever regimes are sticky.
    """

    name = "persistence"

    def __init__(self) -> None:
        self.transition_: FloatArray | None = None

    def fit(self, panel: Panel, cutoff: int) -> None:
        """Count regime transitions per horizon on pairs known at ``cutoff``."""
        state = label_regimes(panel.v30, panel.thresholds)
        known = panel.label_known(cutoff) & (state >= 0)[:, None]
        n_h = known.shape[1]
        counts = np.zeros((n_h, N_CLASSES, N_CLASSES), dtype="int64")
        for j in range(n_h):
            rows = known[:, j]
            np.add.at(counts[j], (state[rows], panel.labels[rows, j]), 1)
        self.transition_ = smoothed_frequencies(counts)

    def predict_proba(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Row of the transition matrix for each origin's regime: (n, H, 3)."""
        _need_fit(self, "transition_")
        assert self.transition_ is not None
        state = label_regimes(panel.v30[origins], panel.thresholds)
        if (state < 0).any():
            bad = panel.days[np.asarray(origins)[state < 0][0]].date()
            raise ValueError(f"V30 unknown at origin {bad}: needs 30 returns")
        # transition_[h, a, :] -> (n, H, 3)
        return np.ascontiguousarray(self.transition_[:, state, :].transpose(1, 0, 2))


def seed_features(panel: Panel) -> pd.DataFrame:
    """The seed recipe's eight features per day (columns :data:`SEED_FEATURES`).

    Notes:
        A reconstruction: V30 (annualised, ddof=1) today and 7/14/30 days ago, the
        30-day Parkinson, Garman-Klass and Rogers-Satchell volatilities (annualised
        by 365) and the 30-day mean daily log return. All use data up to day t.
    """
    f = panel.features
    v30 = f["rv_cc_30d"]
    return pd.DataFrame(
        {
            "v30": v30,
            "v30_lag7": v30.shift(7),
            "v30_lag14": v30.shift(14),
            "v30_lag30": v30.shift(30),
            "parkinson_30d": f["parkinson_30d"],
            "garman_klass_30d": f["garman_klass_30d"],
            "rogers_satchell_30d": f["rogers_satchell_30d"],
            "mean_ret_30d": f["ret_30d"] / 30.0,
        },
        index=f.index,
    ).loc[:, list(SEED_FEATURES)]


class SeedLogisticForecaster:
    """The seed recipe: StandardScaler + LogisticRegression, one fit per horizon.

    Notes:
        LogisticRegression(C=0.1, class_weight="balanced", solver="newton-cholesky")
        (multinomial, converges in a few exact Newton steps: deterministic) on
        :func:`seed_features` at the origin; horizon h is trained on the labels
        V30 regime on day i + h known at the cutoff. Classes missing from a
        training window get probability 0 before the floor ``eps`` is mixed in.
    """

    name = "seed_logistic"

    def __init__(self, c: float = 0.1, max_iter: int = 5000, eps: float = 1e-6) -> None:
        self.c, self.max_iter, self.eps = c, max_iter, eps
        self.models_: list[Pipeline] | None = None

    def fit(self, panel: Panel, cutoff: int) -> None:
        """One scaler + logistic regression per horizon on rows known at ``cutoff``."""
        x = seed_features(panel).to_numpy(dtype="float64")
        ok = np.isfinite(x).all(axis=1)
        known = panel.label_known(cutoff) & ok[:, None]
        self.models_ = []
        for j in range(known.shape[1]):
            model = make_pipeline(
                StandardScaler(),
                LogisticRegression(
                    C=self.c,
                    class_weight="balanced",
                    solver="newton-cholesky",
                    max_iter=self.max_iter,
                ),
            )
            model.fit(x[known[:, j]], panel.labels[known[:, j], j])
            self.models_.append(model)

    def predict_proba(self, panel: Panel, origins: IntArray) -> FloatArray:
        """Per-horizon probabilities (n, H, 3)."""
        _need_fit(self, "models_")
        assert self.models_ is not None
        x = seed_features(panel).to_numpy(dtype="float64")[origins]
        out = np.zeros((len(origins), len(self.models_), N_CLASSES))
        for j, model in enumerate(self.models_):
            out[:, j, model.classes_] = model.predict_proba(x)
        return (out + self.eps) / (1.0 + N_CLASSES * self.eps)


BASELINES: dict[str, Callable[[], Forecaster]] = {
    "climatology": ClimatologyForecaster,
    "persistence": PersistenceForecaster,
    "seed_logistic": SeedLogisticForecaster,
    "har_rv": HARForecaster,
    "garch_t": GarchTForecaster,
}
"""Baseline name -> factory of a fresh, unfitted forecaster."""

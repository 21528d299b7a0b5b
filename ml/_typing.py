"""Shared type aliases for the pure core."""

from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["FloatArray", "IntArray", "Interval", "GapPolicy", "Regime"]

Regime = Literal["low", "normal", "high"]
"""Volatility regime of V30 (annualised 30-day close-to-close volatility)."""

Interval = Literal["1d", "4h"]
"""Candle interval, Binance notation."""

GapPolicy = Literal["raise", "report"]
"""What validation does with missing candles: fail, or keep going and report them."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

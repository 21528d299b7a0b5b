"""Candle files named on the command line: every error names the option and the file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ml.errors import BVPError, CandleFileError

if TYPE_CHECKING:
    import pandas as pd

    from ml._typing import GapPolicy, Interval
    from ml.validation import ValidationReport


def read_file(path: Path, label: str) -> pd.DataFrame:
    """Read a candle file; an unreadable file or a bad value fails as ``label: problem``.

    Args:
        path: The file.
        label: How the user named it, e.g. ``--data candles.csv`` or the path.
    """
    from ml.data import read_candles

    try:
        return read_candles(path)
    except CandleFileError as exc:
        raise click.ClickException(f"{label}: {exc.problem}") from exc


def validate_file(
    candles: pd.DataFrame, interval: Interval, gaps: GapPolicy, label: str
) -> ValidationReport:
    """Validate candles; a gap under ``--gaps raise`` names the flag that accepts it.

    Raises:
        click.ClickException: ``label: <the broken rule>``.
    """
    from ml.validation import validate_candles

    try:
        return validate_candles(
            candles, interval, gaps, "pass --gaps report to accept gaps"
        )
    except BVPError as exc:
        raise click.ClickException(f"{label}: {exc}") from exc

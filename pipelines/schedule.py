"""Recurring KFP runs: five-field cron -> KFP's six-field cron, and the request.

KFP (robfig/cron) reads six fields with seconds first: ``0 3 * * 1`` (Mondays 03:00)
becomes ``0 0 3 * * 1``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ml.errors import ConfigError

__all__ = ["CRON_FIELDS", "create_schedule", "to_kfp_cron"]

CRON_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
_NAMES = {
    "month": {m: i + 1 for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])},
    "day-of-week": {d: i for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])},
}  # fmt: skip
_ITEM = re.compile(r"^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(\d+))?$")


def _value(token: str, name: str, lo: int, hi: int, expr: str) -> int:
    names = _NAMES.get(name, {})
    if token.upper() in names:
        return names[token.upper()]
    if not token.isdigit() or not lo <= int(token) <= hi:
        raise ConfigError(f"cron {name} field", token, f"{lo}-{hi}" + (
            f" or {'/'.join(names)}" if names else ""), f"(in {expr!r}; --cron)")  # fmt: skip
    return int(token)


def _check_field(field: str, name: str, lo: int, hi: int, expr: str) -> None:
    if field == "?" and name in ("day-of-month", "day-of-week"):
        return
    for item in field.split(","):
        m = _ITEM.match(item)
        if not m:
            raise ConfigError(f"cron {name} field", item,
                              "*, N, N-M, */S, N-M/S or a comma list", f"(in {expr!r}; --cron)")  # fmt: skip
        base, step = m.groups()
        if step is not None and int(step) == 0:
            raise ConfigError(
                f"cron {name} field", item, "a step >= 1", f"(in {expr!r}; --cron)"
            )
        if base == "*":
            continue
        bounds = [_value(t, name, lo, hi, expr) for t in base.split("-")]
        if len(bounds) == 2 and bounds[0] > bounds[1]:
            raise ConfigError(f"cron {name} field", item, "a range low-high with low <= high",
                              f"(in {expr!r}; --cron)")  # fmt: skip


def to_kfp_cron(expr: str) -> str:
    """Validate a five-field cron and prepend the seconds field KFP expects.

    Args:
        expr: ``minute hour day-of-month month day-of-week``, e.g. ``0 3 * * 1``.

    Returns:
        Six fields, seconds first: ``0 0 3 * * 1``.

    Raises:
        ConfigError: Wrong number of fields, or a field value out of range (the
            message names the field and the value).
    """
    fields = expr.split()
    if len(fields) != len(CRON_FIELDS):
        raise ConfigError("cron", expr, "five fields: minute hour day-of-month month "
                          "day-of-week (e.g. '0 3 * * 1')", "(--cron)")  # fmt: skip
    for field, (name, lo, hi) in zip(fields, CRON_FIELDS, strict=True):
        _check_field(field, name, lo, hi, expr)
    return "0 " + " ".join(fields)


def create_schedule(
    client: Any,
    pipeline_path: Path,
    cron: str,
    params: dict[str, Any],
    experiment: str = "monitoring",
    job_name: str = "bvp-monitoring",
) -> str:
    """Create a recurring run of the compiled pipeline; returns its id.

    Args:
        client: A ``kfp.Client`` (or a fake with the same two methods).
        pipeline_path: Compiled pipeline YAML.
        cron: Five-field cron (converted and validated here).
        params: Pipeline parameters.
        experiment: KFP experiment (created if missing).
        job_name: Recurring run name.
    """
    kfp_cron = to_kfp_cron(cron)
    exp = client.create_experiment(name=experiment)
    run = client.create_recurring_run(
        experiment_id=exp.experiment_id,
        job_name=job_name,
        description=f"monitoring on cron {cron!r} (KFP: {kfp_cron!r})",
        cron_expression=kfp_cron,
        pipeline_package_path=str(pipeline_path),
        params=params,
        max_concurrency=1,
        no_catchup=True,
    )
    return str(run.recurring_run_id)

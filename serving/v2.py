"""Open Inference Protocol (V2) request/response helpers, input checks and a client."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import httpx
import numpy as np

from ml._typing import FloatArray
from ml.errors import BVPError

__all__ = [
    "CONTENT_TYPE",
    "INPUT_DATATYPES",
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "PROBA_OUTPUT",
    "PredictorUnavailableError",
    "V2InputError",
    "V2Tensor",
    "build_infer_request",
    "check_infer_inputs",
    "check_infer_outputs",
    "infer_proba",
    "parse_proba",
]

INPUT_NAME = "features"
PROBA_OUTPUT = "predict_proba"
OUTPUT_NAMES = ("predict", PROBA_OUTPUT)
"""Outputs the served runtime (mlserver-xgboost) can compute."""
CONTENT_TYPE = "np"
"""The only content type the predictor decodes (MLServer's NumPy codec)."""

_FP32_MAX = float(np.finfo(np.float32).max)
_FP64_MAX = float(np.finfo(np.float64).max)
INPUT_DATATYPES: dict[str, tuple[float, float]] = {
    "FP32": (-_FP32_MAX, _FP32_MAX),
    "FP64": (-_FP64_MAX, _FP64_MAX),
    "INT32": (-(2**31), 2**31 - 1),
    "INT64": (-(2**63), 2**63 - 1),
}
"""V2 datatypes accepted for the feature tensor, with the range each can hold."""


class PredictorUnavailableError(BVPError):
    """The V2 predictor did not answer or answered with an error."""

    status_code = 503

    def __init__(self, url: str, reason: str, message: str | None = None) -> None:
        self.url = url
        super().__init__(
            message or f"prediction server at {url} is unavailable: {reason}"
        )


class V2InputError(BVPError):
    """A V2 infer request whose inputs the model cannot take (HTTP 400).

    Args:
        field: The offending field, JSON-path style (``inputs[0].shape``).
        value: The offending value, shown as JSON (``null``, ``"abc"``, ``[1, 28]``).
        rule: What was expected, as a sentence fragment ("expected [n, 29]").
        shown: How to show the value when JSON is not the clearest ("28 values").
    """

    status_code = 400

    def __init__(self, field: str, value: Any, rule: str, shown: str | None = None):
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}: got {shown or _show(value)}, {rule}")


class V2Tensor(NamedTuple):
    """One V2 request input, as plain values (JSON types, ``datatype`` a string)."""

    name: str
    datatype: str
    shape: list[int]
    data: Any
    content_type: str | None = None


def _show(value: Any, limit: int = 80) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _flatten(data: list[Any]) -> list[Any]:
    """Row-major values of a flat or nested list (V2 allows both), without recursion."""
    out: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            out.append(value)
        else:
            stack.pop()
    return out


def _value_problem(v: Any, datatype: str) -> str | None:
    """Exact rule for one value: an int or a finite float (not bool) the type holds."""
    lo, hi = INPUT_DATATYPES[datatype]
    integral = datatype.startswith("INT")
    if type(v) not in (int, float) or (type(v) is float and not math.isfinite(v)):
        kind = "an integer" if integral else "a finite number"
        return f"expected {kind} (datatype {datatype}; null and NaN are not accepted)"
    if integral and type(v) is float and not v.is_integer():
        return f"expected an integer (datatype {datatype})"
    if not lo <= v <= hi:
        bounds = f"[{int(lo)}, {int(hi)}]" if integral else f"[{lo:.7g}, {hi:.7g}]"
        return f"expected a value in {bounds} (datatype {datatype})"
    return None


def _all_ok(values: list[Any], types: set[type], datatype: str) -> bool:
    """Vectorised, conservative ``_value_problem`` of every value (False: look closer).

    ``types`` is ``set(map(type, values))``, computed once by the caller.
    """
    if not types <= {int, float}:
        return False
    lo, hi = INPUT_DATATYPES[datatype]
    try:
        arr = np.asarray(values, dtype="float64")
    except OverflowError:  # an int beyond float64
        return False
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(arr) & (arr >= lo) & (arr <= hi)
        if datatype.startswith("INT"):  # strict upper bound: float(2**63 - 1) rounds up
            ok &= (arr == np.round(arr)) & (arr < float(hi) + 1)
    return bool(ok.all())


def _check_values(
    field: str, values: list[Any], types: set[type], datatype: str, k: int
) -> None:
    if _all_ok(values, types, datatype):
        return
    for i, v in enumerate(values):
        problem = _value_problem(v, datatype)
        if problem:
            raise V2InputError(
                f"{field}[{i}] (row {i // k}, column {i % k})", v, problem
            )


def check_infer_inputs(
    inputs: Sequence[V2Tensor],
    n_features: int,
    content_type: str | None = None,
    max_horizon: int | None = None,
) -> list[Any]:
    """Check the inputs of a V2 request for a (rows, ``n_features``) model.

    The predictor takes exactly one tensor of shape ``[n, n_features]``, n >= 1, with
    a numeric datatype (``INPUT_DATATYPES``) and ``n * n_features`` finite numbers,
    flat or nested row-major; ``null``, booleans, strings and values the datatype
    cannot hold are refused rather than read as missing or cast.

    Args:
        inputs: The request's inputs.
        n_features: Feature count of the served model.
        content_type: The request-level ``parameters.content_type``.
        max_horizon: The model's largest horizon: column 0 (``horizon``) must then be
            a whole number 1..max_horizon; trees answer any number, out of range with
            the edge horizon's probabilities. None (a booster saved without it): any.

    Returns:
        The values of ``inputs[0]``, flattened row-major.

    Raises:
        V2InputError: The first broken rule, naming the field and its value.
    """
    k = n_features
    want = f"[n, {k}] with n >= 1"
    if content_type not in (None, CONTENT_TYPE):
        raise V2InputError(
            "parameters.content_type",
            content_type,
            f'expected "{CONTENT_TYPE}" or none',
        )
    if len(inputs) != 1:
        raise V2InputError(
            "inputs", [t.name for t in inputs],
            f'expected exactly one tensor (e.g. "{INPUT_NAME}", shape {want})',
        )  # fmt: skip
    t, field = inputs[0], "inputs[0]"
    if t.content_type not in (None, CONTENT_TYPE):
        raise V2InputError(
            f"{field}.parameters.content_type", t.content_type,
            f'expected "{CONTENT_TYPE}" or none',
        )  # fmt: skip
    if t.datatype not in INPUT_DATATYPES:
        raise V2InputError(
            f"{field}.datatype",
            t.datatype,
            f"expected one of {', '.join(INPUT_DATATYPES)}",
        )
    shape = list(t.shape)
    if len(shape) != 2 or shape[0] < 1 or shape[1] != k:
        raise V2InputError(f"{field}.shape", shape, f"expected {want}")
    if not isinstance(t.data, list):
        raise V2InputError(
            f"{field}.data", t.data, f"expected a list of {shape[0] * k} numbers"
        )
    types = set(map(type, t.data))
    if list in types:  # nested: exactly n rows of k values, as the shape says
        for i, row in enumerate(t.data):
            if (
                not isinstance(row, list)
                or len(row) != k
                or any(isinstance(v, list) for v in row)
            ):
                raise V2InputError(
                    f"{field}.data[{i}]", row,
                    f"expected a row of {k} numbers (shape {shape})",
                    shown=f"{len(row)} values" if isinstance(row, list) else None,
                )  # fmt: skip
    values = _flatten(t.data) if list in types else t.data
    if len(values) != shape[0] * k:
        raise V2InputError(
            f"{field}.data", values, f"expected {shape[0] * k} (shape {shape})",
            shown=f"{len(values)} values",
        )  # fmt: skip
    if list in types:
        types = set(map(type, values))
    _check_values(f"{field}.data", values, types, t.datatype, k)
    if max_horizon is not None:
        _check_horizons(f"{field}.data", values, k, max_horizon)
    return values


def _check_horizons(field: str, values: list[Any], k: int, max_horizon: int) -> None:
    for i in range(0, len(values), k):
        v = values[i]
        if not (float(v).is_integer() and 1 <= v <= max_horizon):
            raise V2InputError(
                f"{field}[{i}] (row {i // k}, column 0: horizon)", v,
                f"expected a whole number of days 1..{max_horizon} (the model's "
                "horizons)",
            )  # fmt: skip


def check_infer_outputs(names: Sequence[str]) -> None:
    """Check the requested output names (``outputs[i].name``) of a V2 request.

    Raises:
        V2InputError: The first name the runtime cannot compute.
    """
    for i, name in enumerate(names):
        if name not in OUTPUT_NAMES:
            raise V2InputError(
                f"outputs[{i}].name", name,
                "expected " + " or ".join(f'"{n}"' for n in OUTPUT_NAMES),
            )  # fmt: skip


def build_infer_request(x: FloatArray, request_id: str | None = None) -> dict[str, Any]:
    """V2 request asking for ``predict_proba`` of a (rows, features) FP32 matrix."""
    x = np.asarray(x, dtype="float64")
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D feature matrix, got shape {x.shape}")
    body: dict[str, Any] = {
        "inputs": [
            {
                "name": INPUT_NAME,
                "shape": list(x.shape),
                "datatype": "FP32",
                "data": x.astype("float32").ravel().tolist(),
            }
        ],
        "outputs": [{"name": PROBA_OUTPUT}],
    }
    if request_id:
        body["id"] = request_id
    return body


def parse_proba(response: dict[str, Any]) -> FloatArray:
    """Probabilities (rows, classes) from a V2 response."""
    for out in response.get("outputs", []):
        if out.get("name") == PROBA_OUTPUT:
            return np.asarray(out["data"], dtype="float64").reshape(out["shape"])
    raise ValueError(f"V2 response has no {PROBA_OUTPUT!r} output: {list(response)}")


def infer_proba(
    base_url: str,
    model_name: str,
    x: FloatArray,
    timeout_s: float = 5.0,
    client: httpx.Client | None = None,
) -> tuple[FloatArray, dict[str, Any]]:
    """POST a V2 infer request; returns probabilities and the raw response.

    Raises:
        PredictorUnavailableError: Connection failure, timeout or non-200 answer.
    """
    url = f"{base_url.rstrip('/')}/v2/models/{model_name}/infer"
    own = client is None
    c = client or httpx.Client(timeout=timeout_s)
    try:
        resp = c.post(url, json=build_infer_request(x))
    except httpx.HTTPError as exc:
        raise PredictorUnavailableError(
            base_url, f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if own:
            c.close()
    if resp.status_code != 200:
        raise PredictorUnavailableError(
            base_url, f"HTTP {resp.status_code}: {resp.text[:200]}"
        )
    body = resp.json()
    return parse_proba(body), body

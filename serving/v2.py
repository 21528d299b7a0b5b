"""Open Inference Protocol (V2) request/response helpers and a small client."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np

from ml._typing import FloatArray
from ml.errors import BVPError

__all__ = [
    "INPUT_NAME",
    "PROBA_OUTPUT",
    "PredictorUnavailableError",
    "build_infer_request",
    "infer_proba",
    "parse_proba",
]

INPUT_NAME = "features"
PROBA_OUTPUT = "predict_proba"


class PredictorUnavailableError(BVPError):
    """The V2 predictor did not answer or answered with an error."""

    status_code = 503

    def __init__(self, url: str, reason: str, message: str | None = None) -> None:
        self.url = url
        super().__init__(
            message or f"prediction server at {url} is unavailable: {reason}"
        )


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

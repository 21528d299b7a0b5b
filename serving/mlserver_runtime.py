"""The served MLServer runtime: stock mlserver-xgboost plus V2 input checks.

``mlserver_xgboost.XGBoostModel`` hands whatever tensor it gets to NumPy and XGBoost,
so a wrong shape, strings or BYTES come back as HTTP 500 with a Python or C++ trace,
and ``null`` or a negative batch size pass as a prediction. This subclass checks the
request with ``serving.v2.check_infer_inputs`` and ``check_infer_outputs`` (feature
count and largest horizon read from the booster) and answers MLServer's 400 error JSON
naming the field and the value; valid requests go to the stock ``predict`` unchanged,
apart from nested data flattened.

Configure it as ``"implementation": "serving.mlserver_runtime.ValidatingXGBoostModel"``
(``serving.model_repo.XGBOOST_RUNTIME``) or ``MLSERVER_MODEL_IMPLEMENTATION``.

Checking each request before MLServer's adaptive batcher:
    With adaptive batching on, MLServer merges concurrent requests into one before any
    ``predict`` runs, so a check in ``predict`` alone sees the merged batch: one bad
    request would fail every request batched with it, and a shape with no batch axis
    (``[]``) breaks the batcher itself (bare HTTP 500). Importing this module therefore
    puts a per-request gate in front of the batcher, for this runtime only. It relies
    on these internals of ``mlserver==1.7.1`` (the version pinned in pyproject.toml),
    each pinned by a test in ``tests/serving/test_v2_input_validation.py``
    (``test_batching_internals_*`` and the concurrent-burst tests):

    1. ``mlserver.batching.hooks.load_batching`` (an ``on_model_load`` hook of the
       server process, ``MLServer._create_model_registry``) installs the batcher with
       ``setattr(model, "predict", adaptive_batching(model.predict))``, looking up the
       module global ``adaptive_batching`` when it runs. The gate replaces that global
       with a wrapper that puts ``_gate`` in front of what the stock decorator returns
       when the model's settings name a runtime marked ``_checks_before_batching``.
    2. With ``parallel_workers`` >= 1 that hook runs after the inference pool's
       ``load_model``, so the object it wraps is ``mlserver.parallel.ParallelModel``
       (the dispatcher to the worker processes), whose ``settings`` are this model's
       ``ModelSettings``; with 0 workers it is this class's instance. Either way the
       gate runs in the server process before the batcher and the dispatch. The
       server process never calls this class's ``load()`` when workers are used, so
       the gate reads the feature count from the booster file itself
       (``mlserver.utils.get_model_uri``, as the stock ``load``), which also works for
       settings built from ``MLSERVER_MODEL_*`` variables (no model-settings.json).
    3. ``mlserver.batching.requests.BatchedRequests`` merges inputs by name, keeps the
       first request's datatype, asks for the union of the requested outputs and hands
       every merged output to every request. So the gate also sends each checked
       tensor as flat FP64 (exact for FP32/INT32; XGBoost computes in float32), fills
       in the stock default output (``predict``) and returns only the outputs the
       request asked for, so good requests cannot change each other's answers.
    4. ``ModelSettings.implementation`` re-imports (``importlib.reload``) this module
       when the settings come from a model-settings.json: installing is idempotent
       (always wraps the stock decorator) and the scope test reads the settings'
       import path (``ModelSettings.implementation_``) and a class attribute, not the
       class object, which a reload replaces.

    ``predict`` keeps its own check: with batching off each request reaches it alone,
    and in a worker process it sees merged batches of checked requests.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ClassVar, NamedTuple

import xgboost as xgb
from mlserver.batching import hooks as _batching
from mlserver.errors import InferenceError
from mlserver.settings import ModelSettings
from mlserver.types import (
    Datatype,
    InferenceRequest,
    InferenceResponse,
    RequestOutput,
    TensorData,
)
from mlserver.utils import get_model_uri
from mlserver_xgboost import XGBoostModel
from mlserver_xgboost.xgboost import PREDICT_OUTPUT, WELLKNOWN_MODEL_FILENAMES

from ml.models import MAX_HORIZON_ATTR
from serving.v2 import V2InputError, V2Tensor, check_infer_inputs, check_infer_outputs

__all__ = ["ValidatingXGBoostModel"]

Predict = Callable[[InferenceRequest], Awaitable[InferenceResponse]]

_STOCK_ATTR = "_bvp_stock_adaptive_batching"
"""Where the stock ``adaptive_batching`` is kept on ``mlserver.batching.hooks``."""


def _content_type(parameters: object) -> str | None:
    return getattr(parameters, "content_type", None)


class _Domain(NamedTuple):
    """What the booster takes: its feature count and largest horizon (if recorded)."""

    n_features: int
    max_horizon: int | None


def _domain(booster: xgb.Booster) -> _Domain:
    h = booster.attr(MAX_HORIZON_ATTR)
    return _Domain(int(booster.num_features()), int(h) if h else None)


def _checked_values(payload: InferenceRequest, domain: _Domain) -> list[Any]:
    """Values of ``payload``'s one tensor, flattened, once inputs and outputs pass.

    Raises:
        InferenceError: HTTP 400 whose message names the field and the value.
    """
    tensors = [
        V2Tensor(t.name, Datatype(t.datatype).value, t.shape, t.data.root,
                 _content_type(t.parameters))
        for t in payload.inputs
    ]  # fmt: skip
    try:
        values = check_infer_inputs(
            tensors, domain.n_features, _content_type(payload.parameters),
            domain.max_horizon,
        )  # fmt: skip
        check_infer_outputs([o.name for o in payload.outputs or []])
    except V2InputError as exc:
        raise InferenceError(str(exc)) from None
    return values


class ValidatingXGBoostModel(XGBoostModel):
    """``XGBoostModel`` that refuses malformed V2 inputs with HTTP 400."""

    _checks_before_batching: ClassVar[bool] = True
    """Marker read by the batching gate (see the module docstring)."""

    async def load(self) -> bool:
        """Load the booster (stock) and remember its feature count and horizons."""
        loaded = await super().load()
        self._domain = _domain(self._model.get_booster())
        return loaded

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        """Check ``payload``'s inputs and outputs, then run the stock ``predict``.

        Raises:
            InferenceError: HTTP 400 whose message names the field and the value.
        """
        payload.inputs[0].data = TensorData(_checked_values(payload, self._domain))
        return await super().predict(payload)


async def _booster_domain(settings: ModelSettings) -> _Domain:
    uri = await get_model_uri(settings, wellknown_filenames=WELLKNOWN_MODEL_FILENAMES)
    return _domain(xgb.Booster(model_file=uri))


def _gate(settings: ModelSettings, batched: Predict) -> Predict:
    """``batched`` (the adaptive batcher's ``predict``) behind a per-request check."""
    domain: list[_Domain] = []  # read from the booster on the first request

    @wraps(batched)
    async def predict(payload: InferenceRequest) -> InferenceResponse:
        if not domain:
            domain.append(await _booster_domain(settings))
        values = _checked_values(payload, domain[0])
        tensor = payload.inputs[0]
        tensor.datatype, tensor.data = Datatype.FP64, TensorData(values)
        if not payload.outputs:
            payload.outputs = [RequestOutput(name=PREDICT_OUTPUT)]
        wanted = [o.name for o in payload.outputs]
        response = await batched(payload)
        merged = {o.name: o for o in response.outputs}
        response.outputs = [merged[name] for name in wanted]
        return response

    return predict


def _checks_before_batching(settings: ModelSettings) -> bool:
    module, _, name = settings.implementation_.rpartition(".")
    runtime = getattr(sys.modules.get(module), name, None)
    return bool(getattr(runtime, "_checks_before_batching", False))


def _install_batching_gate() -> None:
    """Wrap ``mlserver.batching.hooks.adaptive_batching`` (idempotent, reload-safe)."""
    if "adaptive_batching" not in _batching.load_batching.__code__.co_names:
        raise RuntimeError(
            "mlserver.batching.hooks.load_batching no longer calls adaptive_batching: "
            "the V2 input gate of serving.mlserver_runtime would not run before the "
            "batcher; re-check the internals listed in its docstring"
        )
    stock: Callable[[Predict], Predict] = getattr(
        _batching, _STOCK_ATTR, _batching.adaptive_batching
    )

    @wraps(stock)
    def adaptive_batching(f: Predict) -> Predict:
        batched = stock(f)
        settings = getattr(getattr(f, "__self__", None), "settings", None)
        if isinstance(settings, ModelSettings) and _checks_before_batching(settings):
            return _gate(settings, batched)
        return batched

    setattr(_batching, _STOCK_ATTR, stock)
    setattr(_batching, "adaptive_batching", adaptive_batching)  # noqa: B010


_install_batching_gate()

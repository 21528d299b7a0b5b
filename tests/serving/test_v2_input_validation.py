"""Malformed V2 tensors get HTTP 400 naming the field and the value, never a 500.

Four levels: the pure check (``serving.v2.check_infer_inputs``), the runtime's
``predict`` called in-process on a real booster, MLServer's own batching hook and
parallel dispatcher in-process (the internals ``serving.mlserver_runtime`` relies on to
check each request before the adaptive batcher), and a real MLServer process started
from the repository ``serving.model_repo`` writes (default settings: one worker,
adaptive batching on), on 127.0.0.1, including a concurrent burst of good and bad
requests.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import xgboost as xgb
from mlserver.batching import hooks as batching_hooks
from mlserver.batching import load_batching
from mlserver.context import model_context
from mlserver.errors import InferenceError
from mlserver.parallel.model import ParallelModel
from mlserver.settings import ModelSettings
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver_xgboost import XGBoostModel
from numpy.testing import assert_allclose

from bench.servers import (
    LocalServer,
    mlserver_cmd,
    server_env,
    start,
    train_small_model,
)
from ml.data import bundled_path, read_candles
from ml.features import FEATURE_NAMES
from ml.inference import inference_matrix
from ml.models import MAX_HORIZON_ATTR
from ml.settings import Settings
from serving.mlserver_runtime import ValidatingXGBoostModel
from serving.model_repo import XGBOOST_RUNTIME, prepare_repository
from serving.v2 import (
    V2InputError,
    V2Tensor,
    build_infer_request,
    check_infer_inputs,
    check_infer_outputs,
)
from tests.conftest import free_port

MODEL = "btc-volatility"
K = len(FEATURE_NAMES)
ROW = [7.0] + [0.5] * (K - 1)


def _body(shape, data, datatype="FP32", **extra):
    inp = {"name": "features", "shape": shape, "datatype": datatype, "data": data}
    return {"inputs": [inp], "outputs": [{"name": "predict_proba"}], **extra}


# id -> (request body, text the error must contain: the field and the value)
MALFORMED = {
    "ragged-rows": (
        _body([1, K], [ROW[:10], ROW[10:]]),
        f"inputs[0].data[0]: got 10 values, expected a row of {K} numbers "
        f"(shape [1, {K}])",
    ),
    "wrong-feature-count": (
        _body([1, K - 1], ROW[:-1]),
        f"inputs[0].shape: got [1, {K - 1}], expected [n, {K}] with n >= 1",
    ),
    "data-shorter-than-shape": (
        _body([1, K], ROW[:-1]),
        f"inputs[0].data: got {K - 1} values, expected {K} (shape [1, {K}])",
    ),
    "string-elements": (
        _body([1, K], ["0.5"] * K),
        'inputs[0].data[0] (row 0, column 0): got "0.5", expected a finite number',
    ),
    "string-data": (
        _body([1, K], "abc"),
        f'inputs[0].data: got "abc", expected a list of {K} numbers',
    ),
    "bytes-datatype": (
        _body([1, K], ROW, "BYTES"),
        'inputs[0].datatype: got "BYTES", expected one of FP32, FP64, INT32, INT64',
    ),
    "null-element": (
        _body([2, K], ROW + [None] + ROW[1:]),
        f"inputs[0].data[{K}] (row 1, column 0): got null, expected a finite number",
    ),
    "negative-batch": (
        _body([-1, K], ROW),
        f"inputs[0].shape: got [-1, {K}], expected [n, {K}] with n >= 1",
    ),
    "one-dimensional-shape": (
        _body([K], ROW),
        f"inputs[0].shape: got [{K}], expected [n, {K}] with n >= 1",
    ),
    "boolean-element": (
        _body([1, K], [True] + ROW[1:]),
        "inputs[0].data[0] (row 0, column 0): got true, expected a finite number",
    ),
    "fraction-in-int64": (
        _body([1, K], ROW, "INT64"),
        "inputs[0].data[1] (row 0, column 1): got 0.5, expected an integer",
    ),
    "two-inputs": (
        {
            "inputs": [
                _body([1, K], ROW)["inputs"][0],
                {**_body([1, 1], [1])["inputs"][0], "name": "extra"},
            ]
        },
        'inputs: got ["features", "extra"], expected exactly one tensor',
    ),
    "pandas-content-type": (
        _body([1, K], ROW, parameters={"content_type": "pd"}),
        'parameters.content_type: got "pd", expected "np" or none',
    ),
    "empty-shape": (
        _body([], ROW),
        f"inputs[0].shape: got [], expected [n, {K}] with n >= 1",
    ),
    "same-named-inputs": (
        {"inputs": [_body([1, K], ROW)["inputs"][0]] * 2},
        'inputs: got ["features", "features"], expected exactly one tensor',
    ),
    "unknown-output": (
        {**_body([1, K], ROW), "outputs": [{"name": "predict_log_proba"}]},
        'outputs[0].name: got "predict_log_proba", expected "predict" or '
        '"predict_proba"',
    ),
}


HORIZON_45 = _body([1, K], [45.0] + ROW[1:])


def _tensors(body: dict) -> list[V2Tensor]:
    return [
        V2Tensor(
            t["name"], t["datatype"], t["shape"], t["data"],
            (t.get("parameters") or {}).get("content_type"),
        )
        for t in body["inputs"]
    ]  # fmt: skip


# --- the pure check ------------------------------------------------------------------


@pytest.mark.parametrize("body, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_check_names_field_and_value(body, message):
    content_type = (body.get("parameters") or {}).get("content_type")
    with pytest.raises(V2InputError) as info:
        check_infer_inputs(_tensors(body), K, content_type)
        check_infer_outputs([o["name"] for o in body.get("outputs", [])])
    assert message in str(info.value)
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    "value, datatype, rule",
    [
        (float("nan"), "FP32", "expected a finite number"),
        (float("inf"), "FP64", "expected a finite number"),
        (1e39, "FP32", "expected a value in [-3.402823e+38, 3.402823e+38]"),
        (10**400, "FP64", "expected a value in"),
        (2**31, "INT32", "expected a value in [-2147483648, 2147483647]"),
        (2**63, "INT64", "expected a value in [-9223372036854775808, "),
    ],
    ids=["nan", "inf", "beyond-fp32", "huge-int-fp64", "beyond-int32", "beyond-int64"],
)
def test_values_the_datatype_cannot_hold_are_refused(value, datatype, rule):
    data = [1] * (K - 1) + [value]
    with pytest.raises(V2InputError, match=r"data\[28\] \(row 0, column 28\)") as info:
        check_infer_inputs([V2Tensor("features", datatype, [1, K], data)], K)
    assert rule in str(info.value)


@pytest.mark.parametrize(
    "data, datatype",
    [
        (ROW * 2, "FP32"),
        ([ROW, ROW], "FP64"),
        ([[7] + [1] * (K - 1)] * 2, "INT64"),
        ([7.0] * K * 2, "INT32"),
        ([2**63 - 1] * K * 2, "INT64"),
    ],
    ids=["flat", "nested", "ints", "integral-floats", "int64-max"],
)
def test_valid_tensors_pass_flattened(data, datatype):
    values = check_infer_inputs([V2Tensor("features", datatype, [2, K], data)], K)
    assert len(values) == 2 * K
    assert values == np.asarray(data, dtype=object).ravel().tolist()


def test_the_clients_request_passes():
    """What serving.v2 / the transformer send is accepted unchanged."""
    x = np.random.default_rng(0).normal(size=(30, K))
    body = build_infer_request(x)
    values = check_infer_inputs(_tensors(body), K)
    assert values == body["inputs"][0]["data"]


# --- the runtime in-process ----------------------------------------------------------


@pytest.fixture(scope="module")
def booster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_small_model(tmp_path_factory.mktemp("v2-model") / "m")


def _loaded(cls: type[XGBoostModel], booster: Path) -> XGBoostModel:
    settings = ModelSettings(
        name=MODEL, implementation=cls, parameters={"uri": str(booster)}
    )
    model = cls(settings)
    asyncio.run(model.load())
    return model


def _real_rows() -> np.ndarray:
    daily, h4 = read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
    return inference_matrix(daily, h4, daily["open_time"].iloc[700], [1, 7, 30])


@pytest.mark.parametrize("body, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_runtime_predict_raises_400(booster, body, message):
    model = _loaded(ValidatingXGBoostModel, booster)
    with pytest.raises(InferenceError) as info:
        asyncio.run(model.predict(InferenceRequest.model_validate(body)))
    assert info.value.status_code == 400
    assert message in str(info.value)


def test_runtime_reads_feature_count_and_horizons_from_booster(booster):
    model = _loaded(ValidatingXGBoostModel, booster)
    clf = xgb.XGBClassifier()
    clf.load_model(str(booster))
    assert model._domain.n_features == clf.n_features_in_ == K
    assert model._domain.max_horizon == 30  # the largest horizon in its training rows


def test_booster_saved_without_horizons_takes_any_horizon(booster, tmp_path):
    bare = xgb.Booster(model_file=str(booster))
    bare.set_attr(**{MAX_HORIZON_ATTR: None})  # as saved before the attribute existed
    bare.save_model(str(tmp_path / "model.ubj"))
    model = _loaded(ValidatingXGBoostModel, tmp_path / "model.ubj")
    assert model._domain.max_horizon is None
    out = asyncio.run(model.predict(InferenceRequest.model_validate(HORIZON_45)))
    assert out.outputs[0].shape == [1, 3]


@pytest.mark.parametrize("horizon", [0, 31, 45, 7.5, -1])
def test_runtime_refuses_a_horizon_the_model_was_not_trained_on(booster, horizon):
    model = _loaded(ValidatingXGBoostModel, booster)
    body = _body([2, K], ROW + [horizon] + ROW[1:])
    with pytest.raises(InferenceError) as info:
        asyncio.run(model.predict(InferenceRequest.model_validate(body)))
    assert info.value.status_code == 400
    assert (
        f"inputs[0].data[{K}] (row 1, column 0: horizon): got {horizon}, expected a "
        "whole number of days 1..30 (the model's horizons)"
    ) in str(info.value)


def test_runtime_valid_request_matches_stock_runtime(booster):
    x = _real_rows()
    body = build_infer_request(x)
    ours = _loaded(ValidatingXGBoostModel, booster)
    stock = _loaded(XGBoostModel, booster)
    got = asyncio.run(ours.predict(InferenceRequest.model_validate(body)))
    want = asyncio.run(stock.predict(InferenceRequest.model_validate(body)))
    assert got.outputs[0].shape == want.outputs[0].shape == [3, 3]
    assert got.outputs[0].data.root == want.outputs[0].data.root
    clf = xgb.XGBClassifier()
    clf.load_model(str(booster))
    direct = clf.predict_proba(x.astype("float32"))
    assert_allclose(np.reshape(got.outputs[0].data.root, (3, 3)), direct, rtol=1e-6)


# --- MLServer's batching hook and parallel dispatcher in-process ---------------------
# ``serving.mlserver_runtime`` checks each request before MLServer's adaptive batcher by
# relying on MLServer internals (listed in its docstring). These tests drive the real
# ``load_batching`` hook and ``ParallelModel`` and fail if a future MLServer changes them.


def _good_bodies(n: int) -> list[dict]:
    """``n`` valid requests that differ in rows, datatype, nesting and outputs."""
    rng = np.random.default_rng(11)
    outputs = [["predict_proba"], None, ["predict", "predict_proba"], ["predict"]]
    bodies = []
    for i in range(n):
        rows = 1 + i % 3
        x = np.column_stack(
            [rng.choice([1, 7, 30], rows), rng.normal(size=(rows, K - 1))]
        )
        datatype = ("FP32", "FP64", "INT64")[i % 3]
        dtype = {"FP32": "float32", "FP64": "float64", "INT64": "int64"}[datatype]
        if dtype == "int64":  # whole numbers; the horizon column stays as it is
            x[:, 1:] = np.round(x[:, 1:] * 3)
        data: list = x.astype(dtype).tolist()
        data = data if i % 4 == 3 else sum(data, [])  # nested or flat row-major
        body = _body([rows, K], data, datatype)
        if outputs[i % 4] is None:
            del body["outputs"]
        else:
            body["outputs"] = [{"name": o} for o in outputs[i % 4]]
        bodies.append(body)
    return bodies


BAD_IN_BURST = [
    "empty-shape", "same-named-inputs", "unknown-output", "wrong-feature-count",
    "null-element", "bytes-datatype", "string-elements", "negative-batch",
    "two-inputs", "fraction-in-int64",
]  # fmt: skip


def _burst() -> list[tuple[dict, str | None]]:
    """40 good requests (message None) with a malformed one after every fourth."""
    good = iter(_good_bodies(40))
    out: list[tuple[dict, str | None]] = []
    for name in BAD_IN_BURST:
        out += [(next(good), None) for _ in range(4)] + [MALFORMED[name]]
    return out


def _stock_outputs(stock: XGBoostModel, body: dict) -> list[dict]:
    resp = asyncio.run(stock.predict(InferenceRequest.model_validate(body)))
    return [
        {"name": o.name, "shape": o.shape, "data": o.data.root} for o in resp.outputs
    ]


class CountingModel(ValidatingXGBoostModel):
    """The runtime, recording the rows of every (merged) call that reaches it."""

    calls: list[int]

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        self.calls.append(payload.inputs[0].shape[0])
        return await super().predict(payload)


def _batching_settings(booster: Path, max_batch_size: int) -> ModelSettings:
    # A batch waits up to 5 s to fill, but fills at max_batch_size (the good requests).
    return ModelSettings(
        name=MODEL, implementation=CountingModel, parameters={"uri": str(booster)},
        max_batch_size=max_batch_size, max_batch_time=5.0,
    )  # fmt: skip


async def _send_all(predict, burst: list[tuple[dict, str | None]]) -> list:
    requests = [predict(InferenceRequest.model_validate(b)) for b, _ in burst]
    with model_context(
        _batching_settings(Path("unused"), 1)
    ):  # as MLServer's dataplane
        return await asyncio.wait_for(
            asyncio.gather(*requests, return_exceptions=True), timeout=30
        )


def _assert_burst_answers(results: list, burst, stock: XGBoostModel) -> None:
    for result, (body, message) in zip(results, burst, strict=True):
        if message is None:
            assert isinstance(result, InferenceResponse), result
            got = [
                {"name": o.name, "shape": o.shape, "data": o.data.root}
                for o in result.outputs
            ]
            assert got == _stock_outputs(stock, body)
        else:
            assert isinstance(result, InferenceError), result
            assert result.status_code == 400
            assert message in str(result)


def test_batching_internals_gate_wraps_the_hooks_decorator():
    """``load_batching`` still decorates through the module global the gate replaces."""
    assert "adaptive_batching" in load_batching.__code__.co_names
    assert batching_hooks.load_batching is load_batching
    stock = batching_hooks._bvp_stock_adaptive_batching
    assert batching_hooks.adaptive_batching is not stock
    assert batching_hooks.adaptive_batching.__wrapped__ is stock


def test_batching_internals_no_workers_bad_requests_never_reach_the_batch(booster):
    """0 workers: the model itself is batched; bad requests fail alone, before it."""
    burst = _burst()
    settings = _batching_settings(booster, max_batch_size=40)
    model = CountingModel(settings)
    model.calls = []

    async def run() -> list:
        await load_batching(model)  # as MLServer's server process does, then load()
        await model.load()
        return await _send_all(model.predict, burst)

    results = asyncio.run(run())
    _assert_burst_answers(results, burst, _loaded(XGBoostModel, booster))
    good_rows = sum(b["inputs"][0]["shape"][0] for b, m in burst if m is None)
    assert sum(model.calls) == good_rows
    assert max(model.calls) > 3  # requests were merged (each has at most 3 rows)


def test_batching_internals_parallel_model_checks_before_dispatch(booster):
    """1+ workers: the batched object is MLServer's ``ParallelModel`` (never loaded
    in the server process); bad requests fail there, before batching and dispatch."""
    burst = _burst()
    settings = _batching_settings(booster, max_batch_size=40)
    worker = CountingModel(settings)
    worker.calls = []
    asyncio.run(worker.load())

    class Dispatcher:  # stands in for the pipe to the worker process
        async def dispatch_request(self, message):
            assert message.method_name == "predict"
            return SimpleNamespace(
                return_value=await worker.predict(*message.method_args)
            )

    main = CountingModel(settings)  # what the server process instantiates
    parallel = ParallelModel(main, Dispatcher())  # type: ignore[arg-type]

    async def run() -> list:
        await load_batching(parallel)
        return await _send_all(parallel.predict, burst)

    results = asyncio.run(run())
    _assert_burst_answers(results, burst, _loaded(XGBoostModel, booster))
    good_rows = sum(b["inputs"][0]["shape"][0] for b, m in burst if m is None)
    assert sum(worker.calls) == good_rows
    assert max(worker.calls) > 3
    assert not hasattr(main, "_n_features")  # the server-process instance never loads


# --- a real MLServer process ---------------------------------------------------------


def _serve(booster: Path, home: Path, **serving: int) -> LocalServer:
    ports = {k: free_port() for k in ("http_port", "grpc_port", "metrics_port")}
    settings = Settings(home=home, serving={**ports, **serving})
    root = prepare_repository(settings, booster, "1", {})
    return start(
        mlserver_cmd(root), server_env(home), home / "mlserver.log",
        f"http://127.0.0.1:{ports['http_port']}", f"/v2/models/{MODEL}/ready",
    )  # fmt: skip


@pytest.fixture(scope="module")
def served(booster, tmp_path_factory: pytest.TempPathFactory):
    """MLServer serving ``booster`` from the repository the product writes."""
    defaults = Settings().serving
    assert defaults.max_batch_size > 1  # the default: adaptive batching on
    assert defaults.parallel_workers == 1
    server = _serve(booster, tmp_path_factory.mktemp("v2-home"))
    yield server
    server.stop()


@pytest.fixture(
    scope="module",
    params=["defaults", "no-workers", "no-batching"],
)
def served_modes(request, booster, tmp_path_factory: pytest.TempPathFactory):
    """The default server, then 0 workers (batching on), then 1 worker without it."""
    if request.param == "defaults":
        yield request.getfixturevalue("served")
        return
    serving = {
        "no-workers": {"parallel_workers": 0},
        "no-batching": {"max_batch_size": 0},
    }
    server = _serve(
        booster, tmp_path_factory.mktemp("v2-mode"), **serving[request.param]
    )
    yield server
    server.stop()


def _post(url: str, body: dict) -> httpx.Response:
    # A fresh connection per request: a 500 from MLServer's batcher closes the socket.
    return httpx.post(f"{url}/v2/models/{MODEL}/infer", json=body, timeout=10)


@pytest.mark.slow
@pytest.mark.integration
def test_repository_uses_the_validating_runtime(served):

    settings_file = Path(served.proc.args[-1]) / MODEL / "model-settings.json"
    impl = json.loads(settings_file.read_text())["implementation"]
    assert impl == XGBOOST_RUNTIME == "serving.mlserver_runtime.ValidatingXGBoostModel"


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("body, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_server_answers_400_naming_field_and_value(served, body, message):
    resp = _post(served.url, body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert message in error
    assert "Traceback" not in error and "site-packages" not in error


@pytest.mark.slow
@pytest.mark.integration
def test_server_refuses_a_horizon_outside_the_models_before_batching(served):
    resp = _post(served.url, HORIZON_45)
    assert resp.status_code == 400, resp.text
    assert (
        "inputs[0].data[0] (row 0, column 0: horizon): got 45.0, expected a whole "
        "number of days 1..30"
    ) in resp.json()["error"]


@pytest.mark.slow
@pytest.mark.integration
def test_server_valid_request_returns_the_stock_probabilities(served, booster):
    x = _real_rows()
    resp = _post(served.url, build_infer_request(x))
    assert resp.status_code == 200, resp.text
    out = resp.json()["outputs"][0]
    stock = _loaded(XGBoostModel, booster)
    want = asyncio.run(
        stock.predict(InferenceRequest.model_validate(build_infer_request(x)))
    )
    assert out["shape"] == [3, 3]
    assert out["data"] == want.outputs[0].data.root


@pytest.mark.slow
@pytest.mark.integration
def test_server_empty_shape_under_adaptive_batching(served):
    """Checked before MLServer's batcher, which used to answer a bare 500."""
    resp = _post(served.url, _body([], ROW))
    assert resp.status_code == 400, resp.text
    assert MALFORMED["empty-shape"][1] in resp.json()["error"]


async def _post_all(url: str, bodies: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:
        sends = [client.post(f"/v2/models/{MODEL}/infer", json=b) for b in bodies]
        return await asyncio.wait_for(asyncio.gather(*sends), timeout=60)


@pytest.mark.slow
@pytest.mark.integration
def test_server_concurrent_bad_requests_do_not_fail_good_ones(served_modes, booster):
    """40 good and 10 malformed requests at once: each gets its own answer."""
    burst = _burst()
    responses = asyncio.run(_post_all(served_modes.url, [b for b, _ in burst]))
    stock = _loaded(XGBoostModel, booster)
    for resp, (body, message) in zip(responses, burst, strict=True):
        if message is None:
            assert resp.status_code == 200, resp.text
            got = [
                {k: o[k] for k in ("name", "shape", "data")}
                for o in resp.json()["outputs"]
            ]
            assert got == _stock_outputs(stock, body)
        else:
            assert resp.status_code == 400, resp.text
            assert message in resp.json()["error"]

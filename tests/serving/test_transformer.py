"""The transformer against real MLServer and transformer processes on 127.0.0.1.

One stack per module (see conftest); tests that stop MLServer or move the alias run last
and leave the stack serving.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from ml.data import bundled_path, read_candles
from ml.features import MIN_HISTORY
from ml.inference import build_feature_table
from ml.models import load_regime_model
from tests.serving.conftest import (
    MAX_BATCH,
    MAX_BODY,
    MAX_CANDLE_INSTANCES,
    Stack,
    set_champion,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ASOF = "2024-03-01"


def _kaggle_rows(interval: str, end: str, n: int) -> list[dict[str, Any]]:
    """The last ``n`` bundled candles up to ``end`` as Kaggle-layout objects."""
    with gzip.open(bundled_path(interval), "rt") as f:
        lines = f.read().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    rows = [r for r in rows if r["Open time"][:10] <= end]
    return rows[-n:]


def _short_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = ("Open time", "Open", "High", "Low", "Close", "Volume")
    return [{k: r[k] for k in keep} for r in rows]


def _candles(n: int = 120, end: str = ASOF) -> list[dict[str, Any]]:
    return _kaggle_rows("1d", end, n)


def _with(rows: list[dict[str, Any]], i: int, **change: Any) -> list[dict[str, Any]]:
    rows = [dict(r) for r in rows]
    for k, v in change.items():
        if v is ...:
            del rows[i][k]
        else:
            rows[i][k] = v
    return rows


def _post(stack: Stack, body: Any, raw: bytes | None = None) -> httpx.Response:
    if raw is not None:
        return httpx.post(stack.predict_url, content=raw, timeout=10,
                          headers={"content-type": "application/json"})  # fmt: skip
    return httpx.post(stack.predict_url, json=body, timeout=10)


def _gap() -> list[dict[str, Any]]:
    rows = _candles()
    return rows[:60] + rows[61:]


BAD_REQUESTS = [
    ("history_asof", {"asof": "2018-02-01"}, 422, "asof"),
    ("asof_empty", {"asof": ""}, 422, "asof"),
    (
        "daily_at_noon",
        {
            "candles": [
                {**r, "Open time": r["Open time"].replace(" 00:", " 12:", 1)}
                for r in _candles()
            ]
        },
        422,
        "candles[0].Open time",
    ),
    ("history_candles", {"candles": _candles(40)}, 422, "candles"),
    ("gap", {"candles": _gap()}, 422, "candles.open_time"),
    ("null", {"candles": _with(_candles(), 5, Close=None)}, 422, "candles[5].Close"),
    ("nan_literal", None, 400, "body"),
    (
        "non_numeric",
        {"candles": _with(_candles(), 7, High="abc")},
        422,
        "candles[7].High",
    ),
    (
        "missing_column",
        {"candles": _with(_candles(), 0, Volume=...)},
        422,
        "candles[0].Volume",
    ),
    ("extra_column", {"candles": _with(_candles(), 0, Foo=1)}, 422, "candles[0].Foo"),
    ("short_kline", {"candles": [[1514764800000, "1", "2", "0.5"]]}, 422, "candles[0]"),
    ("ohlc", {"candles": _with(_candles(), 3, High="1.0")}, 422, "candles[3].High"),
    ("horizon_31", {"asof": ASOF, "horizons": [1, 31]}, 422, "horizons"),
    ("horizon_zero", {"asof": ASOF, "horizons": [0]}, 422, "horizons"),
    ("horizon_dup", {"asof": ASOF, "horizons": [3, 3]}, 422, "horizons"),
    ("horizon_str", {"asof": ASOF, "horizons": ["7"]}, 422, "horizons[0]"),
    ("thresholds_order", {"asof": ASOF, "thresholds": [0.65, 0.4]}, 422, "thresholds"),
    (
        "thresholds_str",
        {"asof": ASOF, "thresholds": ["0.3", 0.6]},
        422,
        "thresholds[0]",
    ),
    (
        "thresholds_bool",
        {"asof": ASOF, "thresholds": [0.3, True]},
        422,
        "thresholds[1]",
    ),
    ("thresholds_len", {"asof": ASOF, "thresholds": [0.4]}, 422, "thresholds"),
    (
        "batch_too_large",
        {"instances": [{"asof": ASOF}] * (MAX_BATCH + 1)},
        422,
        "instances",
    ),
    (
        "batch_item",
        {"instances": [{"asof": ASOF}, {"asof": "x"}]},
        422,
        "instances[1].asof",
    ),
    ("asof_format", {"asof": "yesterday"}, 422, "asof"),
    ("asof_range", {"asof": "2031-01-01"}, 422, "asof"),
    ("asof_time_zone", {"asof": "2025-05-27T12:00:00Z"}, 422, "asof"),
    ("asof_nan", {"asof": "NaT"}, 422, "asof"),
    ("asof_day_first", {"asof": "27/05/2025"}, 422, "asof"),
    ("asof_year_only", {"asof": "2025"}, 422, "asof"),
    (
        "thresholds_overflow",
        {"asof": ASOF, "thresholds": [0.3, 1e155]},
        422,
        "thresholds",
    ),
    ("unknown_field", {"asof": ASOF, "horizon": 3}, 422, "horizon"),
    ("not_object", [1, 2], 422, "body"),
    ("h4_alone", {"candles_4h": _kaggle_rows("4h", ASOF, 10)}, 422, "candles_4h"),
    ("oversized", {"asof": ASOF, "pad": "x" * (MAX_BODY + 1)}, 413, "body"),
    (
        "daily_as_4h",
        {"candles": _candles(), "candles_4h": _candles()},
        422,
        "candles_4h.open_time",
    ),
    (
        "4h_as_daily",
        {"candles": _kaggle_rows("4h", ASOF, 700)},
        422,
        "candles.open_time",
    ),
    (
        "4h_elsewhere",
        {"candles": _candles(), "candles_4h": _kaggle_rows("4h", "2019-01-01", 60)},
        422,
        "candles_4h",
    ),
    ("4h_empty", {"candles": _candles(), "candles_4h": []}, 422, "candles_4h"),
    ("json_string", "hello", 422, "body"),
    ("json_number", 5, 422, "body"),
    (
        "duplicate_row",
        {
            "candles": _with(
                _candles(), 20, **{"Open time": _candles()[19]["Open time"]}
            )
        },
        422,
        "candles[20].Open time",
    ),
    (
        "candle_instances",
        {"instances": [{"candles": _candles()}] * (MAX_CANDLE_INSTANCES + 1)},
        422,
        "instances",
    ),
]


def _infer_count(stack: Stack) -> float:
    text = httpx.get(
        f"http://127.0.0.1:{stack.settings.serving.metrics_port}/metrics"
    ).text
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
        if line.startswith("model_infer_request_success") or line.startswith("model_infer_request_failure")
    )  # fmt: skip


@pytest.mark.parametrize(("case", "body", "status", "field"), BAD_REQUESTS,
                         ids=[c[0] for c in BAD_REQUESTS])  # fmt: skip
def test_bad_request_is_a_4xx_naming_field_and_value(stack, case, body, status, field):
    before = _infer_count(stack)
    raw = b'{"asof": NaN}' if case == "nan_literal" else None
    resp = _post(stack, body, raw)
    assert resp.status_code == status, resp.text
    out = resp.json()
    assert out["field"] == field
    assert "value" in out and out["error"]
    assert "Traceback" not in resp.text
    assert _infer_count(stack) == before  # nothing reached MLServer


def test_error_messages_name_the_field_as_the_request_does(stack):
    """Field paths and row numbers as in the request, the value once and cut short."""
    nan = _post(stack, None, b'{"asof": "2024-03-01", "thresholds": [NaN, 0.6]}')
    assert nan.status_code == 400 and "NaN is not valid JSON" in nan.json()["error"]
    item = _post(stack, {"instances": [{"asof": ASOF}, {"asof": "x"}]}).json()
    assert item["error"].startswith("instances[1].asof: got 'x'"), item
    dup = _with(_candles(), 20, **{"Open time": _candles()[19]["Open time"]})
    row = _post(stack, {"candles": dup}).json()
    assert row["error"].startswith("candles[20].Open time: got "), row
    bad = _post(stack, {"candles": _with(_candles(), 7, High="abc")}).json()
    assert bad["error"] == "candles[7].High: expected a number, got 'abc'"
    rows = _candles()
    for i, key, value, rule in ((12, "Close", "-5", "expected a finite price > 0"),
                                (9, "Volume", "-1", "expected a finite volume >= 0")):  # fmt: skip
        out = _post(stack, {"candles": _with(rows, i, **{key: value})}).json()
        assert out["field"] == f"candles[{i}].{key}", out
        assert out["error"] == f"candles[{i}].{key}: got {float(value)}, {rule}", out
        assert out["at"] == rows[i]["Open time"][:10] + "T00:00Z", out
    obj = _post(stack, {"candles": {"a": 1}}).json()
    assert (obj["field"], obj["value"]) == ("candles", {"a": 1}), obj  # JSON, no repr
    assert obj["error"].endswith('(got {"a": 1})'), obj
    extra = _post(stack, {"instances": [{"horizons": [1]}], "asof": ASOF}).json()
    assert extra["value"] == [{"horizons": [1]}], extra
    huge = _post(stack, {"asof": ASOF, "pad": "y" * 200_000})
    assert huge.status_code == 422 and huge.json()["field"] == "pad"
    assert len(huge.content) < 2_000, len(huge.content)
    assert "(200000 characters)" in huge.json()["value"]
    for body in (
        {"instances": {"a": "y" * 200_000}},
        {"instances": ["y" * 20_000] * 12},
    ):
        out = _post(stack, body)
        assert out.status_code == 422 and out.json()["field"] == "instances"
        assert len(out.content) < 8_000, len(out.content)
    for raw in (
        b'{"asof": ' + b"[" * 3000 + b"]" * 3000 + b"}",
        b'{"instances": [{"asof": ' + b"[" * 3000 + b"]" * 3000 + b"}]}",
    ):
        deep = _post(stack, None, raw)
        assert deep.status_code == 400 and deep.json()["field"] == "body", deep.text
    for body in ({"k" * 250_000: 1}, {"asof": "2" * 250_000}):
        big = _post(stack, body)
        assert big.status_code == 422 and len(big.content) < 2_000, len(big.content)
    gap = _post(stack, {"candles": _gap()}).json()
    assert gap["error"].endswith(
        "(1 missing; send every daily candle, oldest first)"
    ), gap
    far = _post(
        stack,
        {"candles": _candles(), "candles_4h": _kaggle_rows("4h", "2019-01-01", 60)},
    )
    assert "expected some in the 30 days 2024-02-01..2024-03-01" in far.json()["error"]


def test_history_error_says_needed_and_got(stack):
    out = _post(stack, {"candles": _candles(40)}).json()
    assert (out["needed"], out["got"]) == (MIN_HISTORY, 40)
    assert "expected at least 91" in out["error"]
    assert "earliest" not in out["error"]  # 40 candles never reach 91


def test_history_error_names_earliest_workable_asof(stack):
    candles = _candles(120)
    early = candles[30]["Open time"][:10]
    out = _post(stack, {"candles": candles, "asof": early}).json()
    assert out["got"] == 31
    assert (
        f"the earliest as-of day with enough is {candles[90]['Open time'][:10]}"
        in out["error"]
    )


def test_asof_request_returns_30_horizons_matching_in_process_model(stack):
    resp = _post(stack, {"asof": ASOF})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["model_name"], out["model_version"], out["asof"]) == (
        "btc-volatility",
        "1",
        ASOF,
    )
    rows = out["forecasts"]
    assert [r["horizon"] for r in rows] == list(range(1, 31))
    assert (
        rows[0]["target_date"] == "2024-03-02"
        and rows[-1]["target_date"] == "2024-03-31"
    )
    p = np.array([[r["p_low"], r["p_normal"], r["p_high"]] for r in rows])
    assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert [r["regime"] for r in rows] == [
        ("low", "normal", "high")[i] for i in p.argmax(1)
    ]
    table = build_feature_table(
        read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
    )
    x = table.matrix(pd.Timestamp(ASOF), list(range(1, 31))).astype("float32")
    expected = load_regime_model(stack.boosters["1"]).predict_proba(x)
    assert_allclose(p, expected, atol=1e-5)


def test_caller_candles_give_the_same_forecast_as_served_data(stack):
    body = {"candles": _candles(200), "candles_4h": _short_rows(_kaggle_rows("4h", ASOF, 1000)),
            "horizons": [1, 10, 30]}  # fmt: skip
    mine = _post(stack, body)
    assert mine.status_code == 200, mine.text
    served = _post(stack, {"asof": ASOF, "horizons": [1, 10, 30]}).json()
    assert mine.json()["asof"] == ASOF
    cols = ("p_low", "p_normal", "p_high", "vol_forecast", "vol_lo", "vol_hi")
    got = [[r[c] for c in cols] for r in mine.json()["forecasts"]]
    assert_allclose(got, [[r[c] for c in cols] for r in served["forecasts"]], atol=1e-6)


def _structural_model(stack: Stack):
    from ml.structural import STRUCTURAL_FILE, structural_from_dict

    path = stack.boosters["1"].parent / STRUCTURAL_FILE
    return structural_from_dict(json.loads(path.read_text()))


def test_forecasts_carry_the_volatility_level_of_the_structural_model(stack):
    from ml.structural import forecast_asof

    out = _post(stack, {"asof": ASOF, "horizons": [1, 7, 30]}).json()
    assert out["probabilities_from"] == "classifier"
    daily, h4 = read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
    want = forecast_asof(_structural_model(stack), daily, h4, pd.Timestamp(ASOF),
                         (0.40, 0.65)).set_index("horizon").loc[[1, 7, 30]]  # fmt: skip
    got = np.array(
        [[r["vol_forecast"], r["vol_lo"], r["vol_hi"]] for r in out["forecasts"]]
    )
    assert_allclose(
        got, want[["vol_forecast", "vol_lo", "vol_hi"]].to_numpy(), rtol=1e-9
    )
    assert (got[:, 1] < got[:, 0]).all() and (got[:, 0] < got[:, 2]).all()


def test_other_thresholds_carry_the_classifier_through_the_structural_model(stack):
    from ml.distribution import ANCHOR_FLOOR, anchor_probabilities
    from ml.structural import forecast_asof

    daily, h4 = read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
    model = _structural_model(stack)
    cols = ["p_low", "p_normal", "p_high"]

    def served(th):  # type: ignore[no-untyped-def]
        body = {"asof": ASOF} if th is None else {"asof": ASOF, "thresholds": th}
        resp = _post(stack, body)
        assert resp.status_code == 200, resp.text
        out = resp.json()
        return out, np.array([[r[c] for c in cols] for r in out["forecasts"]])

    _, classifier = served(None)
    pool_trained = forecast_asof(
        model, daily, h4, pd.Timestamp(ASOF), (0.40, 0.65), floor=ANCHOR_FLOOR
    )
    probs = {}
    for th in ([0.30, 0.60], [0.50, 0.90], [0.399, 0.65], [0.40, 2.0], [0.40, 10.0]):
        out, p = served(th)
        assert (out["probabilities_from"], out["thresholds"]) == (
            "classifier+structural",
            th,
        )
        pool = forecast_asof(
            model, daily, h4, pd.Timestamp(ASOF), tuple(th), floor=ANCHOR_FLOOR
        )
        want = anchor_probabilities(
            classifier, pool_trained[cols].to_numpy(), pool[cols].to_numpy()
        )
        assert_allclose(p, want, rtol=1e-6, atol=1e-9)
        assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
        probs[tuple(th)] = p
    # Coherent: higher cut points put more mass below the low one, less above the high one.
    assert (probs[(0.5, 0.9)][:, 0] >= probs[(0.3, 0.6)][:, 0] - 1e-9).all()
    assert (probs[(0.5, 0.9)][:, 2] <= probs[(0.3, 0.6)][:, 2] + 1e-9).all()
    # Continuous: a nudge of 0.001 from the trained low cut point barely moves P(low).
    assert np.abs(probs[(0.399, 0.65)][:, 0] - classifier[:, 0]).max() < 0.02
    assert (probs[(0.399, 0.65)][:, 0] <= classifier[:, 0] + 1e-9).all()
    # The tail keeps shrinking below the pool's 1e-4 floor (it tied at the
    # classifier's P(V30 > 0.65) before): P(V30 > 10) <= P(V30 > 2), both far below it.
    assert (probs[(0.4, 10.0)][:, 2] <= probs[(0.4, 2.0)][:, 2] + 1e-12).all()
    assert (probs[(0.4, 2.0)][:, 2] < 0.05 * classifier[:, 2]).all()


def test_structural_probabilities_on_request_are_the_pool_at_any_thresholds(stack):
    from ml.structural import forecast_asof

    daily, h4 = read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
    model = _structural_model(stack)
    cols = ["p_low", "p_normal", "p_high"]
    for th in (None, [0.30, 0.60]):
        body = {
            "asof": ASOF,
            "horizons": [1, 7, 30],
            "probabilities_from": "structural",
        }
        if th is not None:
            body["thresholds"] = th
        resp = _post(stack, body)
        assert resp.status_code == 200, resp.text
        out = resp.json()
        assert out["probabilities_from"] == "structural"
        want = forecast_asof(model, daily, h4, pd.Timestamp(ASOF),
                             tuple(th or (0.40, 0.65))).set_index("horizon").loc[[1, 7, 30]]  # fmt: skip
        got = np.array([[r[c] for c in cols] for r in out["forecasts"]])
        assert_allclose(got, want[cols].to_numpy(), rtol=1e-6, atol=1e-9)
        assert [r["regime"] for r in out["forecasts"]] == [
            ("low", "normal", "high")[i] for i in got.argmax(axis=1)
        ]
    explicit = _post(stack, {"asof": ASOF, "probabilities_from": "classifier"}).json()
    assert explicit["forecasts"] == _post(stack, {"asof": ASOF}).json()["forecasts"]


def test_probabilities_from_must_be_a_known_model(stack):
    resp = _post(stack, {"asof": ASOF, "probabilities_from": "garch"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "probabilities_from"
    assert resp.json()["value"] == "garch"


def test_without_structural_model_other_thresholds_are_refused(stack):
    path = stack.home / "serving/repo/btc-volatility/structural.json"
    saved = path.read_bytes()
    path.unlink()
    try:
        resp = _post(stack, {"asof": ASOF, "thresholds": [0.3, 0.6]})
        assert resp.status_code == 422, resp.text
        assert resp.json()["field"] == "thresholds"
        assert "no structural model" in resp.json()["error"]
        ok = _post(stack, {"asof": ASOF, "horizons": [3]}).json()
        assert "vol_forecast" not in ok["forecasts"][0]
        pool = _post(stack, {"asof": ASOF, "probabilities_from": "structural"})
        assert pool.status_code == 422, pool.text
        assert pool.json()["field"] == "probabilities_from"
        assert "no structural model" in pool.json()["error"]
    finally:
        path.write_bytes(saved)
    again = _post(stack, {"asof": ASOF, "thresholds": [0.3, 0.6]})
    assert (
        again.status_code == 200
        and again.json()["probabilities_from"] == "classifier+structural"
    )


def test_thresholds_follow_the_served_version_not_the_settings(stack):
    """A champion trained for 0.35/0.7 (BVP_TARGET__THRESHOLDS at training) used to be
    served as if trained for this server's 0.4/0.65: labels and prior features off."""
    path = stack.home / "serving/repo/btc-volatility/structural.json"
    saved = path.read_bytes()
    data = json.loads(saved)
    assert data["thresholds"] == [0.4, 0.65]
    path.write_text(json.dumps({**data, "thresholds": [0.35, 0.7]}))
    try:
        out = _post(stack, {"asof": ASOF}).json()
        assert (out["thresholds"], out["probabilities_from"]) == (
            [0.35, 0.7],
            "classifier",
        )
        p = np.array(
            [[r["p_low"], r["p_normal"], r["p_high"]] for r in out["forecasts"]]
        )
        table = build_feature_table(
            read_candles(bundled_path("1d")), read_candles(bundled_path("4h")),
            thresholds=(0.35, 0.7),
        )  # fmt: skip
        x = table.matrix(pd.Timestamp(ASOF), list(range(1, 31))).astype("float32")
        expected = load_regime_model(stack.boosters["1"]).predict_proba(x)
        assert_allclose(p, expected, atol=1e-5)
        other = _post(stack, {"asof": ASOF, "thresholds": [0.4, 0.65]}).json()
        assert other["probabilities_from"] == "classifier+structural"
    finally:
        path.write_bytes(saved)
    back = _post(stack, {"asof": ASOF}).json()
    assert (back["thresholds"], back["probabilities_from"]) == (
        [0.4, 0.65],
        "classifier",
    )


def test_binance_kline_arrays_are_accepted(stack):
    rows = _candles(100)
    klines = [[int(pd.Timestamp(r["Open time"].replace(" UTC", "")).value // 10**6),
               r["Open"], r["High"], r["Low"], r["Close"], r["Volume"]] for r in rows]  # fmt: skip
    resp = _post(stack, {"candles": klines, "horizons": [5]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["forecasts"][0]["horizon"] == 5


def test_batch_returns_one_prediction_per_instance(stack):
    body = {"instances": [{"asof": "2023-01-10"}, {"asof": ASOF, "horizons": [2]}]}
    out = _post(stack, body).json()
    assert [p["asof"] for p in out["predictions"]] == ["2023-01-10", ASOF]
    assert [len(p["forecasts"]) for p in out["predictions"]] == [30, 1]


def test_health_endpoints(stack):
    assert httpx.get(f"{stack.transformer.url}/v2/health/live").status_code == 200
    assert (
        httpx.get(f"{stack.transformer.url}/v2/models/btc-volatility/ready").status_code
        == 200
    )
    assert (
        httpx.get(f"{stack.settings.predictor_url}/v2/health/ready").status_code == 200
    )
    metrics = httpx.get(
        f"http://127.0.0.1:{stack.settings.serving.metrics_port}/metrics"
    )
    assert "model_infer_request" in metrics.text


def test_mlserver_down_gives_503_then_recovers_by_itself(stack):
    url = stack.transformer.url
    ready = (f"{url}/v2/models/btc-volatility/ready", f"{url}/v2/health/ready")
    stack.mlserver.kill()
    resp = _post(stack, {"asof": ASOF})
    assert resp.status_code == 503
    assert "unavailable" in resp.json()["error"] and "Traceback" not in resp.text
    # readiness follows the predictor; liveness does not
    down = [httpx.get(u) for u in ready]
    assert [r.status_code for r in down] == [503, 503]
    assert "predictor not ready: ConnectError" in down[0].json()["error"]
    assert httpx.get(f"{url}/v2/health/live").status_code == 200
    stack.start_mlserver()
    resp = _post(stack, {"asof": ASOF})
    assert resp.status_code == 200, resp.text
    assert [httpx.get(u).status_code for u in ready] == [200, 200]


def test_alias_move_is_served_without_a_failed_request(stack):
    from serving.reload import reload_champion

    failures: list[str] = []
    versions: list[str] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                r = client.post(
                    stack.predict_url, json={"asof": ASOF, "horizons": [1, 30]}
                )
                if r.status_code != 200:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                else:
                    versions.append(r.json()["model_version"])

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        set_champion(stack.settings, "2")
        assert reload_champion(stack.settings) == ("2", True)
        time.sleep(0.5)
        assert reload_champion(stack.settings) == ("2", False)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert versions[0] == "1" and versions[-1] == "2"
    assert (
        json.loads(
            (stack.home / "serving/repo/btc-volatility/model-settings.json").read_text()
        )["parameters"]["version"]
        == "2"
    )

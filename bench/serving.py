"""Serving benchmark: bounded loopback load on MLServer directly and through the transformer.

    .venv/bin/python -m bench.serving                      # chosen settings, 2000 requests
    .venv/bin/python -m bench.serving --requests 300       # quick
    .venv/bin/python -m bench.serving --sweep              # workers x adaptive batching

It trains a small real model on the bundled candles, starts its own MLServer and
transformer on free 127.0.0.1 ports under a temporary home, and sends a fixed number of
requests at each concurrency (1, 8, 32). Each request is one as-of day: the transformer
gets ``{"asof": day}`` (30 horizons; row ``transformer``) and ``{"asof": day,
"thresholds": [0.3, 0.6]}`` (row ``tr+thresh``: the classifier carried to them by the structural model),
MLServer gets that day's 30 x 29 feature matrix.
Printed per row: p50/p99 latency, throughput, errors, and p50 divided by the in-process
``predict_proba`` time of the same 30 rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from bench.servers import (  # noqa: E402
    mlserver_cmd,
    server_env,
    start,
    train_small_model,
    transformer_cmd,
)
from ml.data import bundled_path, read_candles  # noqa: E402
from ml.features import MIN_HISTORY  # noqa: E402
from ml.inference import build_feature_table  # noqa: E402
from ml.models import load_regime_model  # noqa: E402
from ml.settings import Settings  # noqa: E402
from serving.model_repo import prepare_repository  # noqa: E402
from serving.v2 import build_infer_request  # noqa: E402

MODEL = "btc-volatility"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Row:
    """One bench line."""

    target: str
    config: str
    concurrency: int
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    rps: float
    ratio: float


async def _load(
    url: str, bodies: list[dict], concurrency: int
) -> tuple[list[float], int, float]:
    lat: list[float] = []
    errors = 0
    queue = list(enumerate(bodies))
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while queue:
                _, body = queue.pop()
                t = time.perf_counter()
                try:
                    r = await client.post(url, json=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                lat.append((time.perf_counter() - t) * 1000)
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return lat, errors, wall


def _row(target: str, config: str, c: int, lat: list[float], errors: int, wall: float,
         inproc_ms: float) -> Row:  # fmt: skip
    p50 = statistics.median(lat)
    p99 = float(np.percentile(lat, 99))
    return Row(
        target, config, c, len(lat), errors, p50, p99, len(lat) / wall, p50 / inproc_ms
    )


def _print(rows: list[Row], inproc_ms: float) -> None:
    print(
        f"\nin-process predict_proba (30 rows, 1 thread): {inproc_ms:.3f} ms (median)"
    )
    head = f"{'target':12s} {'config':24s} {'conc':>4s} {'reqs':>5s} {'err':>4s} "
    print(head + f"{'p50 ms':>7s} {'p99 ms':>7s} {'req/s':>7s} {'p50/inproc':>10s}")
    for r in rows:
        print(
            f"{r.target:12s} {r.config:24s} {r.concurrency:4d} {r.requests:5d} {r.errors:4d} "
            f"{r.p50_ms:7.2f} {r.p99_ms:7.2f} {r.rps:7.0f} {r.ratio:10.1f}"
        )


def _inproc_ms(booster: Path, xs: list[np.ndarray]) -> float:
    model = load_regime_model(booster)
    model.predict_proba(xs[0].astype("float32"))
    times = []
    for x in xs[:300]:
        t = time.perf_counter()
        model.predict_proba(x.astype("float32"))
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run(requests: int, concurrencies: list[int], configs: list[tuple[int, int, float]],
        transformer: bool, seed: int = 7) -> list[Row]:  # fmt: skip
    """Bench every (workers, max_batch_size, max_batch_time_s) config; returns the rows."""
    rng = random.Random(seed)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bvp-bench-") as tmp:
        home = Path(tmp)
        booster = train_small_model(home / "model")
        table = build_feature_table(
            read_candles(bundled_path("1d")), read_candles(bundled_path("4h"))
        )
        days = table.daily.index[MIN_HISTORY:]
        picks = [rng.randrange(len(days)) for _ in range(requests)]
        asofs = [str(days[i].date()) for i in picks]
        xs = [table.x[MIN_HISTORY + i] for i in picks]
        inproc = _inproc_ms(booster, xs)
        direct_bodies = [build_infer_request(x) for x in xs]
        tr_bodies = [{"asof": a} for a in asofs]
        # Other cut points: the transformer integrates the structural model per request.
        th_bodies = [{"asof": a, "thresholds": [0.3, 0.6]} for a in asofs]
        for workers, mbs, mbt in configs:
            config = f"w={workers} batch={mbs}/{mbt * 1000:g}ms"
            ports = {k: _port() for k in ("http", "grpc", "metrics", "t_http")}
            env = {
                "BVP_SERVING__HTTP_PORT": str(ports["http"]),
                "BVP_SERVING__GRPC_PORT": str(ports["grpc"]),
                "BVP_SERVING__METRICS_PORT": str(ports["metrics"]),
                "BVP_SERVING__PARALLEL_WORKERS": str(workers),
                "BVP_SERVING__MAX_BATCH_SIZE": str(mbs),
                "BVP_SERVING__MAX_BATCH_TIME_S": str(mbt),
                "BVP_HOME": str(home),
            }
            settings = Settings(**_nested(env))
            repo = prepare_repository(settings, booster, "1", {})
            ml_url = f"http://127.0.0.1:{ports['http']}"
            ml = start(mlserver_cmd(repo), server_env(home), home / "mlserver.log", ml_url,
                       f"/v2/models/{MODEL}/ready")  # fmt: skip
            tr = None
            try:
                if transformer:
                    t_url = f"http://127.0.0.1:{ports['t_http']}"
                    cmd = transformer_cmd(MODEL) + [
                        "--http_port", str(ports["t_http"]),
                        "--predictor_host", f"127.0.0.1:{ports['http']}",
                        "--enable_latency_logging", "false",
                    ]  # fmt: skip
                    tr = start(cmd, server_env(home), home / "transformer.log", t_url,
                               "/v2/health/ready")  # fmt: skip
                for c in concurrencies:
                    url = f"{ml_url}/v2/models/{MODEL}/infer"
                    asyncio.run(
                        _load(url, direct_bodies[: min(50, requests)], c)
                    )  # warm-up
                    lat, err, wall = asyncio.run(_load(url, direct_bodies, c))
                    rows.append(_row("mlserver", config, c, lat, err, wall, inproc))
                    if tr is not None:
                        url = f"{tr.url}/v1/models/{MODEL}:predict"
                        asyncio.run(_load(url, tr_bodies[: min(50, requests)], c))
                        lat, err, wall = asyncio.run(_load(url, tr_bodies, c))
                        rows.append(
                            _row("transformer", config, c, lat, err, wall, inproc)
                        )
                        lat, err, wall = asyncio.run(_load(url, th_bodies, c))
                        rows.append(
                            _row("tr+thresh", config, c, lat, err, wall, inproc)
                        )
                    _print(rows[-3 if tr else -1 :], inproc)
            finally:
                if tr is not None:
                    tr.stop()
                ml.stop()
    _print(rows, inproc)
    return rows


def _nested(env: dict[str, str]) -> dict:
    out: dict = {"home": env["BVP_HOME"], "serving": {}}
    for k, v in env.items():
        if k.startswith("BVP_SERVING__"):
            out["serving"][k.removeprefix("BVP_SERVING__").lower()] = v
    return out


def main() -> None:
    """Command line entry."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--requests", type=int, default=2000, help="Requests per concurrency level."
    )
    p.add_argument(
        "--concurrency", default="1,8,32", help="Comma-separated concurrency levels."
    )
    p.add_argument("--sweep", action="store_true",
                   help="Compare MLServer parallel workers 0/1/2 and adaptive batching on/off.")  # fmt: skip
    p.add_argument("--no-transformer", action="store_true", help="Bench MLServer only.")
    a = p.parse_args()
    s = Settings().serving
    if a.sweep:
        configs = [(0, 0, 0.0), (1, 0, 0.0), (2, 0, 0.0), (1, 32, 0.002)]
    else:
        configs = [(s.parallel_workers, s.max_batch_size, s.max_batch_time_s)]
    concurrencies = [int(c) for c in a.concurrency.split(",")]
    run(a.requests, concurrencies, configs, transformer=not a.no_transformer)


if __name__ == "__main__":
    main()

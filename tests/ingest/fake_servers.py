"""Local servers that speak the Binance klines and Kaggle download wire formats.

Both run a threaded ``http.server`` on 127.0.0.1 (random port) and record requests.
Faults are queued and consumed one per request. Run the Binance fake from a shell::

    python -m tests.ingest.fake_servers --since 2025-05-01 --faults 429,500
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import threading
import time
import zipfile
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

from ml.data import OPEN_TIME, bundled_path, read_candles

DAY_MS = 86_400_000
STEP_MS = {"1d": DAY_MS, "4h": 4 * 3_600_000}


def ms(day: str) -> int:
    """Epoch ms of a UTC day or timestamp string."""
    return int(pd.Timestamp(day).value // 1_000_000)


def kline(
    open_ms: int, step_ms: int, o: float, h: float, lo: float, c: float, v: float
) -> list[Any]:
    """One kline row exactly as /api/v3/klines returns it (prices as strings)."""
    return [
        open_ms,
        f"{o:.2f}",
        f"{h:.2f}",
        f"{lo:.2f}",
        f"{c:.2f}",
        f"{v:.5f}",
        open_ms + step_ms - 1,
        f"{v * c:.8f}",
        1000,
        f"{v / 2:.5f}",
        f"{v * c / 2:.8f}",
        "0",
    ]


def synthetic_klines(
    start_ms: int, count: int, step_ms: int, first_close: float = 30000.0, seed: int = 7
) -> list[list[Any]]:
    """Deterministic random-walk candles with consistent OHLC."""
    rng = np.random.default_rng(seed)
    rows, prev = [], first_close
    for i in range(count):
        o = prev
        c = round(o * float(np.exp(rng.normal(0, 0.02))), 2)
        h = round(max(o, c) * (1 + float(rng.uniform(0, 0.01))), 2)
        lo = round(min(o, c) * (1 - float(rng.uniform(0, 0.01))), 2)
        rows.append(
            kline(
                start_ms + i * step_ms,
                step_ms,
                o,
                h,
                lo,
                c,
                float(rng.uniform(1e3, 5e4)),
            )
        )
        prev = c
    return rows


def bundled_klines(
    interval: str, since: str, until_ms: int, seed: int = 7
) -> list[list[Any]]:
    """Bundled real candles from ``since``, then synthetic ones up to ``until_ms``.

    The last row is the candle still open at ``until_ms``, as on the real API.
    """
    step = STEP_MS[interval]
    frame = read_candles(bundled_path(interval))  # type: ignore[arg-type]
    frame = frame[frame[OPEN_TIME] >= pd.Timestamp(since)]
    rows = [
        [
            int(r.open_time.value // 1_000_000),
            repr(r.open),
            repr(r.high),
            repr(r.low),
            repr(r.close),
            repr(r.volume),
            int(r.open_time.value // 1_000_000) + step - 1,
            "0",
            0,
            "0",
            "0",
            "0",
        ]
        for r in frame.itertuples(index=False)
    ]
    nxt = rows[-1][0] + step
    count = max(0, (until_ms - nxt) // step + 1)
    return rows + synthetic_klines(nxt, count, step, float(rows[-1][4]), seed)


@dataclass
class Fault:
    """One injected answer: an HTTP status (with headers/body) or a truncated body."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    truncate: bool = False


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.requests: list[dict[str, Any]] = []
        self.faults: deque[Fault] = deque()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def next_fault(self) -> Fault | None:
        with self.lock:
            return self.faults.popleft() if self.faults else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    @property
    def fake(self) -> Any:
        return self.server.fake  # type: ignore[attr-defined]

    def send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        hdrs = {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def send_fault(self, fault: Fault, ok_body: bytes) -> None:
        if fault.truncate:  # a complete HTTP message whose JSON is cut short
            self.send(200, ok_body[: max(1, len(ok_body) // 2)])
        else:
            body = (
                fault.body
                if fault.body is not None
                else json.dumps(
                    {
                        "code": -1003 if fault.status in (418, 429) else -1000,
                        "msg": f"fault {fault.status}",
                    }
                ).encode()
            )
            self.send(fault.status, body, fault.headers)


class FakeBinance(_Server):
    """Serves ``/api/v3/klines`` for one symbol from kline rows per interval."""

    def __init__(
        self, klines: dict[str, list[list[Any]]], symbol: str = "BTCUSDT"
    ) -> None:
        super().__init__(_BinanceHandler)
        self.klines = klines
        self.symbol = symbol


class _BinanceHandler(_Handler):
    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.fake.requests.append({"path": url.path, **q})
        if url.path != "/api/v3/klines":
            return self.send(404, b'{"code":-1,"msg":"not found"}')
        if q.get("symbol") != self.fake.symbol:
            return self.send(400, b'{"code":-1121,"msg":"Invalid symbol."}')
        limit = int(q.get("limit", 500))
        if not 1 <= limit <= 1000:
            return self.send(
                400, b'{"code":-1130,"msg":"Invalid data sent for a parameter."}'
            )
        rows = self.fake.klines.get(q.get("interval"), [])
        start = int(q.get("startTime", 0))
        end = int(q.get("endTime", 2**62))
        page = [r for r in rows if start <= r[0] <= end][:limit]
        body = json.dumps(page, separators=(",", ":")).encode()
        fault = self.fake.next_fault()
        if fault is not None:
            return self.send_fault(fault, body)
        self.send(200, body)


class FakeKaggle(_Server):
    """Answers ``DownloadDataset`` with a redirect to a zip of ``files``."""

    def __init__(
        self, dataset: str, files: dict[str, bytes], username: str, key: str
    ) -> None:
        super().__init__(_KaggleHandler)
        self.dataset = dataset
        self.username = username
        self.key = key
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files.items():
                z.writestr(name, data)
        self.archive = buf.getvalue()


class _KaggleHandler(_Handler):
    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        self.fake.requests.append(
            {
                "method": "POST",
                "path": self.path,
                "body": body,
                "auth": self.headers.get("Authorization"),
            }
        )
        if not self.path.endswith("/v1/datasets.DatasetApiService/DownloadDataset"):
            return self.send(404, b'{"code":404,"message":"no such method"}')
        token = base64.b64encode(
            f"{self.fake.username}:{self.fake.key}".encode()
        ).decode()
        if self.headers.get("Authorization") != f"Basic {token}":
            return self.send(401, b'{"code":401,"message":"Unauthenticated"}')
        if f"{body.get('ownerSlug')}/{body.get('datasetSlug')}" != self.fake.dataset:
            return self.send(404, b'{"code":404,"message":"Not found"}')
        self.send(
            302, b"", {"Location": f"{self.fake.url}/storage/{body['datasetSlug']}.zip"}
        )

    def do_GET(self) -> None:  # noqa: N802
        self.fake.requests.append({"method": "GET", "path": self.path})
        if not self.path.startswith("/storage/"):
            return self.send(404, b"")
        self.send(
            200,
            self.fake.archive,
            {
                "Content-Type": "application/zip",
                "Last-Modified": time.strftime(
                    "%a, %d %b %Y %H:%M:%S GMT", time.gmtime()
                ),
            },
        )


def main() -> None:
    """Serve bundled + synthetic candles up to the real current (open) candle."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--since", default="2025-05-01", help="First day served.")
    parser.add_argument(
        "--faults", default="", help="Comma list: 429,500,451,truncated."
    )
    parser.add_argument("--url-file", default=None, help="Write the base URL here.")
    args = parser.parse_args()
    now = time.time_ns() // 1_000_000
    fake = FakeBinance({i: bundled_klines(i, args.since, now) for i in STEP_MS})
    for f in filter(None, args.faults.split(",")):
        fake.faults.append(
            Fault(truncate=True)
            if f == "truncated"
            else Fault(int(f), {"Retry-After": "1"} if f in ("429", "418") else {})
        )
    with fake:
        print(fake.url, flush=True)
        if args.url_file:
            with open(args.url_file, "w") as fh:
                fh.write(fake.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

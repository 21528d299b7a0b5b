"""The UI in headless Chromium against a real MLServer and the real UI process.

Debian's chromium through Playwright's Python client (``executable_path``; no
``playwright install``). Screenshots go to ``test-artifacts/ui/`` at the repo root:
forecast.png, date-out-of-range.png, history.png, model.png, monitoring.png,
server-down.png, thresholds.png.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml.settings import MlflowSettings, ServingSettings, Settings, UiSettings
from serving import processes
from serving.model_repo import prepare_repository
from tests.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
WAIT_MS = 60_000

if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def stack(monitored) -> Iterator[tuple[Settings, str]]:
    """MLServer serving the champion booster, the transformer, and ``python -m ui``."""
    home = monitored.home
    settings = Settings(
        home=home,
        mlflow=MlflowSettings(tracking_uri=monitored.tracking_uri),
        serving=ServingSettings(
            http_port=free_port(), grpc_port=free_port(), metrics_port=free_port()
        ),
        ui=UiSettings(port=free_port()),
    )
    repo = prepare_repository(
        settings, monitored.booster, monitored.version, {"run_id": monitored.run_id}
    )
    mlserver = (
        shutil.which("mlserver", path=str(Path(sys.executable).parent)) or "mlserver"
    )
    try:
        pid, log = processes.start_background(
            home,
            "mlserver",
            [mlserver, "start", str(repo)],
            env={"OMP_NUM_THREADS": "1"},
            cwd=home,  # MLServer writes .metrics/ into its working directory
        )
        ready = f"{settings.predictor_url}/v2/models/{settings.mlflow.model_name}/ready"
        assert processes.wait_http(ready, timeout_s=90, pid=pid), log.read_text()[
            -2000:
        ]
        env = {
            "BVP_HOME": str(home), "BVP_MLFLOW__TRACKING_URI": monitored.tracking_uri,
            "BVP_UI__PORT": str(settings.ui.port),
            "BVP_SERVING__HTTP_PORT": str(settings.serving.http_port),
            "BVP_TRANSFORMER__HTTP_PORT": str(free_port()),
            "GRADIO_ANALYTICS_ENABLED": "False",
        }  # fmt: skip
        mp = pytest.MonkeyPatch()
        for k, v in env.items():
            mp.setenv(k, v)
        # The UI asks the KServe transformer, which calls this MLServer (as in `bvp up`).
        from bvp.stack import start_transformer

        start_transformer(Settings())
        pid, log = processes.start_background(
            home, "ui", [sys.executable, "-m", "ui"], env=env
        )
        mp.undo()
        url = f"http://127.0.0.1:{settings.ui.port}/"
        assert processes.wait_http(url, timeout_s=90, pid=pid), log.read_text()[-2000:]
        yield settings, url
    finally:
        processes.stop(home, "ui")
        processes.stop(home, "transformer")
        processes.stop(home, "mlserver")


@pytest.fixture(scope="module")
def page(stack):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            pg.set_default_timeout(WAIT_MS)
            pg.goto(stack[1])
            yield pg
        finally:
            browser.close()


def _traces(page, elem_id: str) -> list[dict]:
    """Plotly traces drawn in the plot with ``elem_id`` (what the browser rendered)."""
    sel = f"#{elem_id} .js-plotly-plot"
    page.wait_for_selector(sel, state="attached")
    return page.evaluate(
        f"() => document.querySelector('{sel}').data.map(t => ({{name: t.name, x: Array.from(t.x), y: Array.from(t.y)}}))"
    )


def _tab(page, name: str) -> None:
    """Switch view (a radio, see ui.app.VIEWS) and wait until it is shown."""
    page.locator("#nav").get_by_label(name, exact=True).check()
    page.locator(f"#view-{name.lower()}").wait_for(state="visible")


def test_forecast_tab_renders_30_horizons_with_probabilities(page, monitored):
    status = page.locator("#forecast-status")
    status.get_by_text("model version").wait_for()
    assert f"model version {monitored.version}" in status.inner_text()
    assert "30 horizons" in status.inner_text()
    traces = _traces(page, "term-structure")
    assert [t["name"] for t in traces] == ["Low", "Normal", "High"]
    assert all(t["x"] == list(range(1, 31)) for t in traces)
    sums = [sum(t["y"][i] for t in traces) for i in range(30)]
    assert all(abs(s - 1) < 1e-3 for s in sums), sums
    table = page.locator("#forecast-table")
    for text in ("p_low", "p_normal", "p_high", "2025-06-26"):
        assert table.get_by_text(text, exact=True).count() >= 1, text
    assert [t["name"] for t in _traces(page, "vol-level")][
        -1
    ] == "expected realised vol"
    page.screenshot(path=str(SHOTS / "forecast.png"), full_page=True)


def test_moved_thresholds_are_answered_by_the_structural_model(page):
    page.locator("#asof textarea, #asof input").first.fill("2025-05-27")
    page.get_by_text("Regime thresholds and model").first.click()
    for elem, value in (("threshold-low", "0.3"), ("threshold-high", "0.55")):
        box = page.locator(f"#{elem} input[type=number]")
        box.fill(value)
        box.press("Enter")
    page.locator("#run-forecast").click()
    status = page.locator("#forecast-status")
    status.get_by_text(
        "probabilities carried to them by the structural model"
    ).wait_for()
    assert "Thresholds 30% / 55%" in status.inner_text()
    traces = _traces(page, "term-structure")
    sums = [sum(t["y"][i] for t in traces) for i in range(30)]
    assert all(abs(s - 1) < 1e-3 for s in sums), sums
    page.screenshot(path=str(SHOTS / "thresholds.png"), full_page=True)
    for elem, value in (("threshold-low", "0.4"), ("threshold-high", "0.65")):
        box = page.locator(f"#{elem} input[type=number]")
        box.fill(value)
        box.press("Enter")


def test_structural_probabilities_can_be_chosen(page):
    page.locator("#asof textarea, #asof input").first.fill("2025-05-27")
    accordion = page.get_by_text("Regime thresholds and model").first
    if not page.locator("#prob-source").is_visible():
        accordion.click()
    radio = page.locator("#prob-source")
    radio.get_by_label("Structural volatility model", exact=True).check()
    page.locator("#run-forecast").click()
    status = page.locator("#forecast-status")
    status.get_by_text("probabilities from the structural volatility model").wait_for()
    traces = _traces(page, "term-structure")
    sums = [sum(t["y"][i] for t in traces) for i in range(30)]
    assert all(abs(s - 1) < 1e-3 for s in sums), sums
    page.screenshot(path=str(SHOTS / "structural.png"), full_page=True)
    radio.get_by_label("XGBoost classifier (MLServer)", exact=True).check()


def test_date_out_of_range_is_a_message(page):
    page.locator("#asof textarea, #asof input").first.fill("2031-01-01")
    page.locator("#run-forecast").click()
    page.locator("#forecast-status").get_by_text("Date out of range").wait_for()
    assert "Traceback" not in page.content()
    page.screenshot(path=str(SHOTS / "date-out-of-range.png"), full_page=True)


def test_history_tab_shows_v30_and_said_vs_happened(page):
    _tab(page, "History")
    assert [t["name"] for t in _traces(page, "history-plot")] == [
        "BTCUSDT close",
        "V30",
    ]
    page.locator("#bt-summary").get_by_text("days scored").wait_for()
    names = [t["name"] for t in _traces(page, "bt-plot")]
    assert names[:3] == ["said low", "said normal", "said high"]
    page.screenshot(path=str(SHOTS / "history.png"), full_page=True)


def test_model_tab_shows_champion_metrics_and_reliability(page, monitored):
    _tab(page, "Model")
    page.locator("#model-info").get_by_text(
        f"btc-volatility v{monitored.version}"
    ).wait_for()
    assert page.locator("#wf-table").get_by_text("climatology").count() >= 1
    assert [t["name"] for t in _traces(page, "reliability")] == [
        "perfect",
        "Low",
        "Normal",
        "High",
    ]
    page.screenshot(path=str(SHOTS / "model.png"), full_page=True)


def test_monitoring_tab_shows_latest_run_report_and_replay(page):
    _tab(page, "Monitoring")
    page.locator("#monitoring-summary").get_by_text("monitor-0.6").wait_for()
    link = page.locator('#monitoring-report a[download="drift_report.html"]')
    assert link.count() == 1
    page.locator("#replay-plot img").wait_for()
    page.screenshot(path=str(SHOTS / "monitoring.png"), full_page=True)


def test_server_down_message(page, stack):
    settings, _ = stack
    assert processes.stop(settings.home, "mlserver")
    _tab(page, "Forecast")
    page.locator("#asof textarea, #asof input").first.fill("")
    page.locator("#run-forecast").click()
    page.locator("#forecast-status").get_by_text("Prediction server is down").wait_for()
    assert "Traceback" not in page.content()
    said = page.locator("#forecast-status").inner_text()
    assert said.count("unavailable") == 1, said  # one sentence, not one per hop
    page.screenshot(path=str(SHOTS / "server-down.png"), full_page=True)

"""The Gradio app: Forecast, History, Model and Monitoring tabs.

Forecasts come over HTTP from the prediction server; the registry and monitoring runs
come from MLflow. Every callback turns failures into a short message (server down,
data insufficient, date out of range, no champion yet), never a traceback.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

import gradio as gr
import httpx
import pandas as pd

from ml.errors import (
    BVPError,
    DataValidationError,
    InsufficientHistoryError,
    ModelNotFoundError,
)
from ml.settings import Settings
from ui.backtest import (
    reliability_figure,
    reliability_table,
    said_vs_happened,
    said_vs_happened_figure,
    summarize_said_vs_happened,
)
from ui.charts import (
    VOL_COLUMNS,
    forecast_view,
    has_vol_level,
    history_figure,
    history_frame,
    term_structure_figure,
    vol_level_figure,
)
from ui.client import CandleSource, Forecast
from ui.model_info import cache_dir, load_champion, load_predictions
from ui.monitoring import load_monitoring, replay_plot_path

log = logging.getLogger(__name__)

__all__ = [
    "ForecastClient",
    "build_app",
    "error_message",
    "html_table",
    "launch_options",
    "run_backtest",
    "run_forecast",
    "run_model",
    "run_monitoring",
]

HORIZONS = list(range(1, 31))
VIEWS = ("Forecast", "History", "Model", "Monitoring")
"""The four views. A radio + columns instead of ``gr.Tabs``: switching tabs in Gradio
6.11-6.15.2 freezes the page (svelte ``effect_update_depth_exceeded``,
gradio-app/gradio#13285, fixed by #13240 after 6.15.2)."""
SWITCH_VIEW_JS = """(choice) => {
  for (const el of document.querySelectorAll('[id^="view-"]')) {
    el.classList.toggle('bvp-off', el.id !== 'view-' + choice.toLowerCase());
  }
  window.dispatchEvent(new Event('resize'));
  return [];
}"""
"""Switch views in the browser only: no server round trip, so a busy queue never delays it."""
TABLE_CSS = (
    ".bvp-table {border-collapse: collapse; font-size: 0.85rem; width: 100%}"
    " .bvp-table th, .bvp-table td {padding: 2px 8px; text-align: right;"
    " border-bottom: 1px solid var(--border-color-primary)}"
    " .bvp-off {display: none !important}"
)
DEFAULT_MODEL = "xgboost"
SERVER_DOWN = "Prediction server is down"
THRESHOLDS_NOTE = (
    "With the classifier: at the trained thresholds it answers (MLServer); for other thresholds its "
    "probabilities are carried to the bands you choose, without retraining, by the "
    "structural model registered with it (its forecast distribution of V30), so they move "
    "smoothly and coherently with the sliders. Press Forecast after moving a slider."
)
SOURCES = {
    "XGBoost classifier (MLServer)": "classifier",
    "Structural volatility model": "structural",
}
"""Choices of "Probabilities from" (label -> the transformer's ``probabilities_from``)."""
SOURCE_NOTE = (
    "The structural model (a pool of HAR-RV, HAR-X and GARCH-t volatility forecasts) had "
    "the lower walk-forward log loss at every horizon in the bench (README, Forecast "
    "quality); the classifier is the model MLServer serves."
)


class ForecastClient(Protocol):
    """Anything that returns a :class:`Forecast` for an as-of day."""

    def forecast(
        self,
        asof: str | None,
        horizons: list[int],
        thresholds: tuple[float, float] | None = None,
        source: str = "classifier",
    ) -> Forecast: ...


def _number(value: Any, field: str) -> float:
    """A finite number from an input (the API may send anything: "abc", null)."""
    try:
        if isinstance(value, bool) or value is None:
            raise TypeError
        out = float(value)
    except (TypeError, ValueError):
        raise DataValidationError(field, value, "expected a number") from None
    if not math.isfinite(out):
        raise DataValidationError(field, value, "expected a finite number")
    return out


def _whole(value: Any, field: str, low: int, high: int) -> int:
    """A whole number in [low, high] (7.5 days is refused, not cut to 7)."""
    x = _number(value, field)
    if x != int(x) or not low <= x <= high:
        raise DataValidationError(
            field, value, f"expected a whole number from {low} to {high}"
        )
    return int(x)


def error_message(exc: Exception, action: str) -> str:
    """User-facing markdown for a failure while doing ``action`` (no traceback)."""
    if isinstance(exc, httpx.HTTPError) or (
        isinstance(exc, BVPError) and exc.status_code == 503
    ):
        return f"**{SERVER_DOWN}.** {exc}  \nStart it with `bvp up`, or check `BVP_UI__SERVER_URL`."
    if isinstance(exc, InsufficientHistoryError):
        return f"**Not enough data to {action}:** {exc}"
    if isinstance(exc, DataValidationError) and exc.column in (
        "asof",
        "start",
        "end",
        "range",
    ):
        unreadable = "YYYY-MM-DD" in str(exc) or "not a calendar date" in str(exc)
        return f"**{'Invalid date' if unreadable else 'Date out of range'}:** {exc}"
    if isinstance(exc, ModelNotFoundError):
        return f"**No champion model yet:** {exc}"
    if isinstance(exc, BVPError):
        return f"**Cannot {action}:** {exc}"
    log.exception("unexpected error while trying to %s", action)
    return f"**Unexpected error while trying to {action}** ({type(exc).__name__}); details are in the UI log."


def _forecast_table(fc: Forecast) -> pd.DataFrame:
    """The forecast table, with vol columns from the dataclass if it carries them."""
    table = fc.table.copy()
    for col in VOL_COLUMNS:
        values = getattr(fc, col, None)
        if values is not None and col not in table:
            table[col] = list(values)
    return table


def run_forecast(
    client: ForecastClient,
    asof: str,
    thresholds: tuple[float, float] = (0.4, 0.65),
    source: str = "classifier",
) -> tuple[str, Any, Any, pd.DataFrame]:
    """(status markdown, term-structure figure, vol-level plot update, table).

    ``source`` is ``classifier`` or ``structural`` (a label of :data:`SOURCES` is
    accepted too).
    """
    try:
        source = SOURCES.get(source, source)
        if source not in SOURCES.values():
            raise DataValidationError(
                "probabilities_from", source,
                f"expected one of {sorted(SOURCES.values())}",
            )  # fmt: skip
        low = _number(thresholds[0], "thresholds.low")
        high = _number(thresholds[1], "thresholds.high")
        if asof is not None and not isinstance(asof, str):
            raise DataValidationError("asof", asof, "expected a date YYYY-MM-DD")
        if not 0 < low < high:
            raise DataValidationError(
                "thresholds",
                [low, high],
                "expected the Low cut point below the High one (0 < low < high)",
            )
        fc = client.forecast(
            (asof or "").strip() or None, HORIZONS, (low, high), source
        )
        table = _forecast_table(fc)
    except Exception as exc:  # noqa: BLE001 - every failure becomes a message
        return (
            error_message(exc, "forecast"),
            None,
            gr.update(value=None, visible=False),
            pd.DataFrame(),
        )
    top, last = table.iloc[0], table.iloc[-1]
    status = (
        f"**As of {fc.asof.date()}** · model version **{fc.model_version}** · server `{fc.server}` · "
        f"{len(table)} horizons  \nTomorrow: **{top['regime'].capitalize()}** "
        f"(low {top['p_low']:.0%}, normal {top['p_normal']:.0%}, high {top['p_high']:.0%}); "
        f"in {int(last['horizon'])} days: **{last['regime'].capitalize()}**"
    )
    vol = gr.update(value=None, visible=False)
    if fc.probabilities_from == "structural":
        status += (f"  \nThresholds {low:.0%} / {high:.0%}: probabilities from the "
                   "structural volatility model")  # fmt: skip
    elif fc.probabilities_from != "classifier":
        status += (f"  \nThresholds {low:.0%} / {high:.0%}: the classifier's probabilities "
                   "carried to them by the structural model (no retraining)")  # fmt: skip
    if has_vol_level(table):
        vol = gr.update(value=vol_level_figure(table, (low, high)), visible=True)
        status += (f"  \nRealised volatility over the next {int(last['horizon'])} days ≈ "
                   f"{float(last['vol_forecast']):.0%} (80%: {float(last['vol_lo']):.0%} .. "
                   f"{float(last['vol_hi']):.0%})")  # fmt: skip
    else:
        status += (
            "  \n_This model version forecasts regimes only (no volatility level)._"
        )
    fig = term_structure_figure(
        table, f"Regime probabilities of V30, as of {fc.asof.date()}"
    )
    return status, fig, vol, forecast_view(table)


def run_history(
    candles: CandleSource, thresholds: tuple[float, float], days: float
) -> Any:
    """Price and V30 for the last ``days`` days.

    Raises:
        gr.Error: ``days`` is not a whole number of days the data holds (the plot has
            no status line, so the message goes to Gradio's error toast / the API).
    """
    try:
        n = _whole(days, "days", 1, len(candles.daily))
    except DataValidationError as exc:
        raise gr.Error(str(exc)) from None
    return history_figure(history_frame(candles.daily, thresholds, n), thresholds)


def run_backtest(
    settings: Settings, model: str, horizon: float, start: str, end: str
) -> tuple[str, Any, Any]:
    """(summary markdown, said-vs-happened figure, model dropdown update)."""
    try:
        horizon = _whole(horizon, "horizon", 1, 30)
        for name, day in (("start", start), ("end", end)):
            if day is not None and not isinstance(day, str):
                raise DataValidationError(name, day, "expected a date YYYY-MM-DD")
        champ, preds = load_predictions(settings)
        models = sorted(preds["model"].unique(), key=lambda m: (m != DEFAULT_MODEL, m))
        if model and model not in models:
            raise DataValidationError("model", model, f"expected one of {models}")
        model = model or models[0]
        frame = said_vs_happened(preds, model, int(horizon), start or None, end or None)
    except Exception as exc:  # noqa: BLE001
        return error_message(exc, "compare with the backtest"), None, gr.update()
    s = summarize_said_vs_happened(frame)
    lo, hi = frame["target_date"].min().date(), frame["target_date"].max().date()
    text = (
        f"**{model}**, champion v{champ.version}, horizon {int(horizon)}d, target days {lo} .. {hi}: "
        f"{int(s['scored'])} of {int(s['days'])} days scored"
    )
    if s["scored"]:
        text += f", most likely regime right on **{s['hit_rate']:.0%}**, mean probability given to what happened {s['p_happened']:.0%}"
    return (
        text,
        said_vs_happened_figure(frame, int(horizon), model),
        gr.update(choices=models, value=model),
    )


def run_model(settings: Settings) -> tuple[str, pd.DataFrame, Any]:
    """(champion markdown, walk-forward metrics table, reliability figure)."""
    try:
        champ = load_champion(settings)
    except Exception as exc:  # noqa: BLE001
        return error_message(exc, "describe the champion"), pd.DataFrame(), None
    text = "\n".join(f"- **{k}**: {v}" for k, v in champ.summary.items())
    table = champ.metrics if champ.metrics is not None else pd.DataFrame()
    if champ.metrics is None:
        text += "\n\n_No walk-forward metrics were logged for this version._"
    fig = None
    try:
        _, preds = load_predictions(settings)
        name = (
            DEFAULT_MODEL
            if DEFAULT_MODEL in set(preds["model"])
            else str(preds["model"].iloc[0])
        )
        fig = reliability_figure(reliability_table(preds, name), name)
    except Exception as exc:  # noqa: BLE001
        text += f"\n\n{error_message(exc, 'draw the reliability diagram')}"
    return text, table, fig


def run_monitoring(settings: Settings) -> tuple[str, pd.DataFrame, Any, Any]:
    """(summary markdown, metrics table, report file, replay image)."""
    replay = replay_plot_path(settings)
    try:
        view = load_monitoring(settings)
    except Exception as exc:  # noqa: BLE001
        return error_message(exc, "read monitoring runs"), pd.DataFrame(), None, replay
    text = view.message
    if view.report_url:
        text += f"\n\n[Open the run's artifacts in MLflow]({view.report_url})"
    if replay is None:
        text += (
            f"\n\n_No replay plot yet (`{settings.home / 'reports' / 'replay.png'}`; "
            "`bvp replay` writes it)._"
        )
    report = str(view.report) if view.report else None
    return text, view.metrics, report, str(replay) if replay else None


def html_table(frame: pd.DataFrame) -> str:
    """A read-only HTML table.

    Gradio 6.11+ ``gr.Dataframe`` freezes the page when it sits in a ``gr.Tab`` and is
    updated (gradio-app/gradio#13448; seen here as an endless "measuring" loop after a
    tab switch), so tables are rendered as plain HTML.
    """
    if frame.empty:
        return ""
    return frame.to_html(
        index=False,
        border=0,
        classes="bvp-table",
        na_rep="",
        float_format=lambda v: f"{v:.3f}",
    )


def launch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Blocks.launch`` from the settings."""
    return {
        "server_name": settings.ui.host,
        "server_port": settings.ui.port,
        "root_path": settings.ui.root_path or None,
        "allowed_paths": [str(cache_dir(settings)), str(settings.home / "reports")],
        "show_error": False,
        "quiet": True,
        "theme": gr.themes.Soft(),
        "css": TABLE_CSS,
    }


def build_app(
    settings: Settings, client: ForecastClient, candles: CandleSource
) -> gr.Blocks:
    """Assemble the UI (events are named API endpoints only where useful to scripts)."""
    days = candles.daily["open_time"].dt.normalize()
    first, latest = str(days.min().date()), str(days.max().date())
    thresholds = settings.target.thresholds
    private: dict[str, Any] = {"api_visibility": "private", "show_progress": "full"}
    with gr.Blocks(title="BTC Volatility Predictor") as app:
        gr.Markdown(
            "# BTC Volatility Predictor\nRegime of 30-day volatility (V30) for each of the "
            f"next 30 days: Low ≤ {thresholds[0]:.0%} < Normal ≤ {thresholds[1]:.0%} < High."
        )
        nav = gr.Radio(
            list(VIEWS),
            value=VIEWS[0],
            show_label=False,
            container=False,
            elem_id="nav",
        )
        with gr.Column(elem_id="view-forecast", elem_classes=["bvp-view"]):
            with gr.Row():
                asof = gr.Textbox(
                    value=latest,
                    label=f"As-of date (YYYY-MM-DD, data {first} .. {latest})",
                    elem_id="asof",
                    scale=3,
                )
                go = gr.Button(
                    "Forecast", variant="primary", elem_id="run-forecast", scale=1
                )
            with gr.Accordion("Regime thresholds and model", open=False):
                with gr.Row():
                    th_low = gr.Slider(
                        0.05, 2.0, value=thresholds[0], step=0.01, label="Low ≤",
                        elem_id="threshold-low",
                    )  # fmt: skip
                    th_high = gr.Slider(
                        0.05, 2.0, value=thresholds[1], step=0.01, label="High >",
                        elem_id="threshold-high",
                    )  # fmt: skip
                gr.Markdown(THRESHOLDS_NOTE, elem_id="thresholds-note")
                source = gr.Radio(
                    list(SOURCES), value=next(iter(SOURCES)),
                    label="Probabilities from", info=SOURCE_NOTE, elem_id="prob-source",
                )  # fmt: skip
            status = gr.Markdown(elem_id="forecast-status")
            plot = gr.Plot(label="Term structure", elem_id="term-structure")
            vol = gr.Plot(label="Volatility level", elem_id="vol-level", visible=False)
            table = gr.HTML(label="Forecast by horizon", elem_id="forecast-table")
        with gr.Column(elem_id="view-history", elem_classes=["bvp-view", "bvp-off"]):
            span = gr.Slider(
                90, len(candles.daily), value=720, step=30, label="Days shown"
            )
            hist = gr.Plot(elem_id="history-plot")
            gr.Markdown(
                "### What the model said then vs what happened (walk-forward backtest)"
            )
            with gr.Row():
                bt_model = gr.Dropdown(
                    [DEFAULT_MODEL],
                    value=DEFAULT_MODEL,
                    label="Model",
                    elem_id="bt-model",
                )
                bt_h = gr.Slider(
                    1,
                    30,
                    value=7,
                    step=1,
                    label="Horizon (days before)",
                    elem_id="bt-horizon",
                )
                bt_start = gr.Textbox(
                    label="From target day (empty: first)", elem_id="bt-start",
                    placeholder="YYYY-MM-DD",
                )  # fmt: skip
                bt_end = gr.Textbox(
                    label="To target day (empty: last)", elem_id="bt-end",
                    placeholder="YYYY-MM-DD",
                )  # fmt: skip
                bt_go = gr.Button("Compare", elem_id="bt-run")
            bt_text = gr.Markdown(elem_id="bt-summary")
            bt_plot = gr.Plot(elem_id="bt-plot")
        with gr.Column(elem_id="view-model", elem_classes=["bvp-view", "bvp-off"]):
            info = gr.Markdown(elem_id="model-info")
            gr.Markdown("#### Walk-forward metrics (model vs baselines)")
            metrics = gr.HTML(elem_id="wf-table")
            rel = gr.Plot(label="Reliability diagram", elem_id="reliability")
            refresh = gr.Button("Refresh", elem_id="model-refresh")
        with gr.Column(elem_id="view-monitoring", elem_classes=["bvp-view", "bvp-off"]):
            mon_text = gr.Markdown(elem_id="monitoring-summary")
            mon_metrics = gr.HTML(elem_id="monitoring-metrics")
            mon_report = gr.File(
                label="Evidently HTML report",
                interactive=False,
                elem_id="monitoring-report",
            )
            mon_replay = gr.Image(
                label="Replay",
                type="filepath",
                interactive=False,
                elem_id="replay-plot",
            )
            mon_refresh = gr.Button("Refresh", elem_id="monitoring-refresh")

        def forecast_cb(
            a: str, lo: float, hi: float, src: str = next(iter(SOURCES))
        ) -> tuple[str, Any, Any, str]:
            text, fig, vol_update, frame = run_forecast(client, a, (lo, hi), src)
            return text, fig, vol_update, html_table(frame)

        def history_cb(d: float) -> Any:
            return run_history(candles, thresholds, d)

        def backtest_cb(m: str, h: float, s: str, e: str) -> tuple[str, Any, Any]:
            return run_backtest(settings, m, h, s, e)

        def model_cb() -> tuple[str, str, Any]:
            text, frame, fig = run_model(settings)
            return text, html_table(frame), fig

        def monitoring_cb() -> tuple[str, str, Any, Any]:
            text, frame, report, replay = run_monitoring(settings)
            return text, html_table(frame), report, replay

        nav.change(
            None,
            inputs=nav,
            js=SWITCH_VIEW_JS,
            api_visibility="private",
            show_progress="hidden",
        )
        f_io = {
            "inputs": [asof, th_low, th_high, source],
            "outputs": [status, plot, vol, table],
        }
        # preprocess=False: API callers' values reach run_forecast / run_backtest,
        # which name a bad one, instead of failing in the component ("upstream
        # Gradio app has raised an exception")
        go.click(forecast_cb, **f_io, api_name="forecast", show_progress="full",
                 preprocess=False)  # fmt: skip
        asof.submit(forecast_cb, **f_io, **private)
        app.load(forecast_cb, **f_io, **private)
        span.release(history_cb, inputs=span, outputs=hist, api_name="history",
                     preprocess=False)  # fmt: skip
        app.load(history_cb, inputs=span, outputs=hist, **private)
        b_io = {
            "inputs": [bt_model, bt_h, bt_start, bt_end],
            "outputs": [bt_text, bt_plot, bt_model],
        }
        bt_go.click(backtest_cb, **b_io, api_name="backtest", show_progress="full",
                    preprocess=False)  # fmt: skip
        app.load(backtest_cb, **b_io, **private)
        refresh.click(
            model_cb,
            outputs=[info, metrics, rel],
            api_name="model_info",
            show_progress="full",
        )
        app.load(model_cb, outputs=[info, metrics, rel], **private)
        mon_io = {"outputs": [mon_text, mon_metrics, mon_report, mon_replay]}
        mon_refresh.click(
            monitoring_cb, **mon_io, api_name="monitoring", show_progress="full"
        )
        app.load(monitoring_cb, **mon_io, **private)
    return app

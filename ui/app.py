"""The Gradio app: Forecast, History and Model tabs. Forecasts come over HTTP."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import gradio as gr
import pandas as pd

from ml.errors import BVPError
from ml.settings import Settings
from ui.charts import history_figure, history_frame, term_structure_figure
from ui.client import CandleSource, Forecast
from ui.model_info import champion_summary

log = logging.getLogger(__name__)

__all__ = ["ForecastClient", "build_app", "run_forecast"]

HORIZONS = list(range(1, 31))


class ForecastClient(Protocol):
    """Anything that returns a :class:`Forecast` for an as-of day."""

    def forecast(self, asof: str | None, horizons: list[int]) -> Forecast: ...


def run_forecast(client: ForecastClient, asof: str) -> tuple[str, Any, pd.DataFrame]:
    """Forecast for the UI: (status markdown, figure, table). Errors become messages."""
    try:
        fc = client.forecast(asof.strip() or None, HORIZONS)
    except BVPError as exc:
        return f"**Cannot forecast:** {exc}", None, pd.DataFrame()
    table = fc.table.copy()
    top = table.iloc[0]
    status = (
        f"**As of {fc.asof.date()}** · model version **{fc.model_version}** · server `{fc.server}`  \n"
        f"Tomorrow: **{top['regime'].capitalize()}** "
        f"(low {top['p_low']:.0%}, normal {top['p_normal']:.0%}, high {top['p_high']:.0%}); "
        f"in 30 days: **{table.iloc[-1]['regime'].capitalize()}**"
    )
    fig = term_structure_figure(table, f"Regime probabilities of V30, as of {fc.asof.date()}")
    for c in ("p_low", "p_normal", "p_high"):
        table[c] = table[c].round(3)
    return status, fig, table


def _history(candles: CandleSource, thresholds: tuple[float, float], days: float) -> Any:
    return history_figure(history_frame(candles.daily, thresholds, int(days)), thresholds)


def _model_tab(settings: Settings) -> tuple[str, pd.DataFrame]:
    try:
        summary, table = champion_summary(settings)
    except BVPError as exc:
        return f"**No champion model:** {exc}", pd.DataFrame()
    lines = "\n".join(f"- **{k}**: {v}" for k, v in summary.items())
    return lines, table if table is not None else pd.DataFrame()


def build_app(settings: Settings, client: ForecastClient, candles: CandleSource) -> gr.Blocks:
    """Assemble the UI."""
    latest = str(candles.daily["open_time"].max().date())
    thresholds = settings.target.thresholds
    with gr.Blocks(title="BTC Volatility Predictor") as app:
        gr.Markdown(
            "# BTC Volatility Predictor\nRegime of 30-day volatility (V30) for each of the "
            f"next 30 days: Low ≤ {thresholds[0]:.0%} < Normal ≤ {thresholds[1]:.0%} < High."
        )
        with gr.Tab("Forecast", id="forecast"):
            with gr.Row():
                asof = gr.Textbox(value=latest, label="As-of date (YYYY-MM-DD, default latest data)", elem_id="asof")
                go = gr.Button("Forecast", variant="primary", elem_id="run-forecast")
            status = gr.Markdown(elem_id="forecast-status")
            plot = gr.Plot(label="Term structure", elem_id="term-structure")
            table = gr.Dataframe(label="Forecast by horizon", elem_id="forecast-table", interactive=False)
        with gr.Tab("History", id="history"):
            days = gr.Slider(90, len(candles.daily), value=720, step=30, label="Days shown")
            hist = gr.Plot(elem_id="history-plot")
        with gr.Tab("Model", id="model"):
            info = gr.Markdown(elem_id="model-info")
            metrics = gr.Dataframe(label="Walk-forward metrics (model vs baselines)", interactive=False, elem_id="wf-table")
            refresh = gr.Button("Refresh")

        def forecast_cb(a: str) -> tuple[str, Any, pd.DataFrame]:
            return run_forecast(client, a)

        def history_cb(d: float) -> Any:
            return _history(candles, thresholds, d)

        def model_cb() -> tuple[str, pd.DataFrame]:
            return _model_tab(settings)

        hidden = {"api_visibility": "private"}
        go.click(forecast_cb, inputs=asof, outputs=[status, plot, table], api_name="forecast", show_progress="full")
        asof.submit(forecast_cb, inputs=asof, outputs=[status, plot, table], **hidden)
        app.load(forecast_cb, inputs=asof, outputs=[status, plot, table], **hidden)
        days.release(history_cb, inputs=days, outputs=hist, api_name="history")
        app.load(history_cb, inputs=days, outputs=hist, **hidden)
        refresh.click(model_cb, outputs=[info, metrics], api_name="model_info")
        app.load(model_cb, outputs=[info, metrics], **hidden)
    return app

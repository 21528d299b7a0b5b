"""``python -m ui``: serve the Gradio app with settings from the environment."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

from ml.settings import Settings  # noqa: E402
from ui.app import build_app, launch_options  # noqa: E402
from ui.client import TransformerForecastClient, load_candles  # noqa: E402


def main() -> None:
    """Launch the UI; forecasts come from the KServe transformer over HTTP."""
    from bvp.logs import configure_logging

    settings = Settings()
    configure_logging(settings)
    candles = load_candles(settings)
    app = build_app(settings, TransformerForecastClient(settings), candles)
    app.queue(default_concurrency_limit=4).launch(**launch_options(settings))


if __name__ == "__main__":
    main()

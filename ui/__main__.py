"""``python -m ui``: serve the Gradio app with settings from the environment."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from ml.settings import Settings  # noqa: E402
from ui.client import TransformerForecastClient, load_candles  # noqa: E402
from ui.app import build_app  # noqa: E402


def main() -> None:
    """Launch the UI."""
    from bvp.logs import configure_logging

    settings = Settings()
    configure_logging(settings)
    candles = load_candles(settings)
    app = build_app(settings, TransformerForecastClient(settings), candles)
    app.queue(default_concurrency_limit=4).launch(
        server_name=settings.ui.host,
        server_port=settings.ui.port,
        root_path=settings.ui.root_path or None,
        show_error=False,
        quiet=True,
    )


if __name__ == "__main__":
    main()

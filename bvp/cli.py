"""``bvp``: one click group per noun; commands stay thin and call library functions."""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

__all__ = ["main"]

# The champion is a few local files: MLflow's download progress bars only clutter the
# output of status, serve reload, up and the rest (an explicit setting still wins).
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# name -> ``module[:attr]`` under bvp.commands; attr defaults to the group ``cli``.
# Imported lazily so `bvp --help` stays fast and each noun only pays for its own deps.
COMMANDS: dict[str, str] = {
    "backtest": "backtest:backtest",
    "data": "data",
    "aws": "aws",
    "down": "stack:down",
    "pipeline": "pipeline",
    "promote": "promote",
    "serve": "serve:serve",
    "status": "stack:status",
    "train": "train:train",
    "ui": "serve:ui",
    "up": "stack:up",
    "deploy": "deploy",
    "model": "model",
    "replay": "replay:replay",
}


class SettingsUsageError(click.ClickException):
    """Bad ``BVP_*`` settings: one ``Error:`` line per variable, exit status 2."""

    exit_code = 2

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines

    def show(self, file: Any = None) -> None:
        for line in self.lines:
            click.echo(f"Error: {line}", err=True, file=file)


class _LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a bad setting is a usage error, not a traceback."""
        from pydantic import ValidationError
        from pydantic_settings import SettingsError

        from bvp.settings_errors import misspelled_settings

        if typos := misspelled_settings(os.environ):
            raise SettingsUsageError(typos)
        try:
            return super().invoke(ctx)
        except (ValidationError, SettingsError) as exc:
            from bvp.settings_errors import describe_settings_error

            lines = describe_settings_error(exc, os.environ)
            if lines is None:
                raise
            raise SettingsUsageError(lines) from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, _, attr = COMMANDS[name].partition(":")
        module = importlib.import_module(f"bvp.commands.{module_name}")
        cmd: click.Command = getattr(module, attr or "cli")
        return cmd


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Bitcoin Volatility Predictor: forecast BTC volatility regimes 1-30 days ahead."""

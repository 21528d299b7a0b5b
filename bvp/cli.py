"""``bvp``: one click group per noun; commands stay thin and call library functions."""

from __future__ import annotations

import importlib

import click

__all__ = ["main"]

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


class _LazyGroup(click.Group):
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

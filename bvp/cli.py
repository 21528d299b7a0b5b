"""bvp command-line interface."""
import click


@click.group()
def main() -> None:
    """Bitcoin Volatility Predictor."""

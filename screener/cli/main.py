"""Entry point of the ``screener`` command: a click group whose subcommands load lazily.

Heavy libraries (torch, ray, lightgbm) are imported only by the subcommand that needs them,
so ``screener --help`` and ``screener query`` start fast.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from .. import __version__
from ..errors import ScreenerError

#: subcommand name -> "module:attribute" of its click command.
COMMANDS: dict[str, str] = {
    "demo": "screener.cli.demo_cmd:demo",
    "dft": "screener.cli.dft_cmd:dft",
    "evaluate": "screener.cli.evaluate_cmd:evaluate",
    "inspect": "screener.cli.inspect_cmd:inspect",
    "query": "screener.cli.query_cmd:query",
    "report": "screener.cli.report_cmd:report",
    "run": "screener.cli.run_cmd:run",
    "synth": "screener.cli.synth_cmd:synth",
    "train": "screener.cli.train_cmd:train",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        """Like click's, with a "did you mean" for a misspelled command."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, sorted(COMMANDS), n=2, cutoff=0.6)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else f"; commands: {', '.join(sorted(COMMANDS))}"
            ctx.fail(f"no such command {name!r}{hint}")
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):  # noqa: D102 - turn project errors into one clean line
        try:
            return super().invoke(ctx)
        except ScreenerError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="screener")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Predict mechanical and thermodynamic properties from DFT charge densities.

    \b
    Typical use:
      screener demo                          # whole pipeline on built-in examples
      screener inspect CHGCAR --grid 32      # what a file holds
      screener run --input runs/ --output out/ [--gpus 4]
      screener query stiffest_stable --results out/
      screener report --results out/ --out report.html
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="screener")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

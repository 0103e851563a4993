"""The ``xlcnn`` command: parses options, calls the library, and turns ``XlcnnError`` into ``Error: …``.

Nothing here computes anything; each command is a thin wrapper over a public function of ``xlcnn``.
"""

from __future__ import annotations

from typing import Any

import click

from xlcnn import __version__
from xlcnn.errors import XlcnnError
from xlcnn.templates import list_templates, load_model


class _Group(click.Group):
    """Reports library errors as one ``Error: …`` line with exit code 1, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except XlcnnError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            raise click.ClickException("interrupted; nothing was written") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xlcnn")
def cli() -> None:
    """Turn any image into an Excel workbook that is a convolutional neural network.

    \b
    Examples:
      xlcnn build photo.jpg -o photo.xlsx          # the default, trained model
      xlcnn build photo.jpg --model tiny --pdf      # a one-page-per-stage handout
      xlcnn verify photo.xlsx                       # recalculate in LibreOffice and check every cell
      xlcnn templates                               # the built-in models
    """


@cli.command("templates")
def templates_command() -> None:
    """List the built-in model templates.

    \b
    Example:
      xlcnn templates
    """
    for name in list_templates():
        model = load_model(name)
        arch = model.arch
        accuracy = model.provenance.accuracy
        quality = f"{accuracy:.1%} accurate" if accuracy is not None else model.provenance.method
        click.echo(
            f"{name:<10} {arch.input.height}×{arch.input.width}×{arch.input.channels}, "
            f"{len(arch.blocks)} conv block(s), classes: {', '.join(arch.classes)} ({quality})"
        )
        click.echo(f"{'':<10} {model.title}")


def main() -> None:
    cli(prog_name="xlcnn")

"""The typer app, options shared by several commands, and the one place errors become exit code 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import InputError

app = typer.Typer(
    name="bokehsim",
    help=(
        "Physically correct depth of field from an image and a depth map.\n\n"
        "Speak in the numbers of a shot: focal length (mm), f-number, the distance the lens is "
        "focused at (m) and the sensor size. Start with `bokehsim render --help`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Messages for the user go to stderr, so stdout stays clean for data (e.g. `bokehsim focus`).
err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def _print_version(value: bool) -> None:
    if value:
        from .. import __version__

        out_console.print(f"bokehsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Physically correct depth of field from an image and a depth map."""


def fail(message: str) -> typer.Exit:
    """Print one line and return the exit-code-2 exception for the caller to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, markup=True)
    return typer.Exit(code=2)


def handle_input_errors(command: Callable) -> Callable:
    """Turn InputError (and a GPU out-of-memory error) into one line and exit code 2.

    Set BOKEHSIM_DEBUG=1 to see the traceback instead.
    """

    @wraps(command)
    def wrapper(*args, **kwargs):
        if os.environ.get("BOKEHSIM_DEBUG"):
            return command(*args, **kwargs)
        try:
            return command(*args, **kwargs)
        except InputError as error:
            raise fail(str(error).replace("\n", " ")) from None
        except MemoryError:
            raise fail("out of memory; try a smaller image, --device cpu or a smaller --tile-size") from None
        except RuntimeError as error:  # torch.cuda.OutOfMemoryError and its kin
            if "out of memory" not in str(error).lower():
                raise
            raise fail("--device cuda: out of memory; try a smaller --tile-size or --device cpu") from None
        except OSError as error:  # a disk full or a permission problem while writing
            name = getattr(error, "filename", None) or ""
            raise fail(f"{name}: {error.strerror or error}") from None

    return wrapper


# Options shared by several commands (spaCy's `_util.py` habit: define once, reuse).
FocalLengthOpt = Annotated[float | None, typer.Option("--focal-length", "-f", help="Focal length f in mm (e.g. 50).", rich_help_panel="Lens")]
FNumberOpt = Annotated[float | None, typer.Option("--f-number", "-N", help="f-number N (e.g. 1.8). Larger = less blur.", rich_help_panel="Lens")]
SensorOpt = Annotated[
    str,
    typer.Option(
        "--sensor",
        help="Sensor: full-frame, aps-c, micro-four-thirds, one-inch, or a width in mm.",
        rich_help_panel="Lens",
    ),
]


def main() -> None:
    """Console-script entry point."""
    from . import commands  # noqa: F401  (registers every command on `app`)

    app(prog_name="bokehsim")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

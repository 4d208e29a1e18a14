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
from typer.core import TyperGroup

from ..errors import InputError

try:  # typer >= 0.25 carries its own copy of click
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - older typer on click
    from click import exceptions as click_errors

#: click >= 8.2 signals "no arguments: show the help" with a usage error of its own.
_NoArgsIsHelp = getattr(click_errors, "NoArgsIsHelpError", ())


class OneLineErrors(TyperGroup):
    """The command group, with click's usage errors (a bad value, a missing option) said in one line.

    Typer draws them as a boxed panel with the usage; every other bokehsim error is one line with
    exit code 2, so these are too: ``error: bokehsim render: Invalid value for '--tile-size': ...``.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NoArgsIsHelp as error:
            typer.echo(error.ctx.get_help())
            sys.exit(error.exit_code)
        except click_errors.UsageError as error:
            where = f"{error.ctx.command_path}: " if error.ctx else ""
            hint = f" (see {error.ctx.command_path} --help)" if error.ctx else ""
            fail(f"{where}{error.format_message()}{hint}")
            sys.exit(2)
        except click_errors.ClickException as error:
            fail(error.format_message())
            sys.exit(error.exit_code)
        except click_errors.Abort:
            err_console.print("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=OneLineErrors,
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

"""`bokehsim notebook summary`: which settings of the measurement notebook scored and rated best."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import InputError
from ..notebook import plot_png, read_notebook, summarize
from ._app import app, err_console, handle_input_errors, out_console

notebook_app = typer.Typer(help="The measurement notebook written by --note.", no_args_is_help=True)
app.add_typer(notebook_app, name="notebook")


@notebook_app.command("summary")
@handle_input_errors
def summary_cli(
    notebook: Annotated[Path, typer.Argument(help="The notebook .csv written by --note.", show_default=False)],
    plot: Annotated[Path | None, typer.Option("--plot", help="Also draw score against focal length and subject distance (.png).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON instead of a table.")] = False,
) -> None:
    """Show which settings scored and rated best, best first.

    Example: bokehsim notebook summary notebook.csv --plot notebook.png
    """
    if plot is not None and plot.suffix.lower() != ".png":
        raise InputError(f"--plot: expected a .png file, got {plot}")
    rows = read_notebook(notebook)
    if not rows:
        raise InputError(f"{notebook}: the notebook has no rows yet")
    summaries = summarize(rows)
    if plot is not None:
        quantity = plot_png(rows, plot)
        err_console.print(f"wrote {plot} ({quantity} against focal length and subject distance)")
    if as_json:
        typer.echo(json.dumps([{**s.settings, "images": s.images, "mean_score": s.mean_score, "mean_rating": s.mean_rating} for s in summaries], indent=2))
        return
    table = Table("focal length", "subject", "background", "f-number", "look", "images", "score", "rating")
    for s in summaries:
        v = s.settings
        table.add_row(
            _text(v["focal_length_mm"], " mm"), _text(v["camera_to_subject_m"], " m"), _text(v["subject_to_background_m"], " m behind"),
            _text(v["f_number"], "", "f/"), v["look"] or "-", str(s.images), _text(s.mean_score), _text(s.mean_rating),
        )
    out_console.print(table)


def _text(value: float | None, unit: str = "", prefix: str = "") -> str:
    return "-" if value is None else f"{prefix}{value:.3g}{unit}"

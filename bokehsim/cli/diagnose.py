"""`bokehsim diagnose`: is a picture's blur the blur its shot gives? What is wrong, where, how sure.

The command parses and names the options; :func:`bokehsim.diagnosis.files.diagnose_file` and
:func:`~bokehsim.diagnosis.files.diagnose_folder` do the work.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..diagnosis.files import DiagnoseOutputs, diagnose_file, diagnose_folder
from ..diagnosis.report import Report
from ..diagnosis.signs import SIGN_NAMES
from ..errors import InputError
from ..jobs import DepthSource, LensSettings
from ._app import app, err_console, handle_input_errors, out_console
from ..notebook import NoteSettings, note_run
from ._options import depth_options, lens_options, note_options
from ._progress import LazyProgress

_OUTPUTS = "Outputs"


@app.command("diagnose")
@handle_input_errors
@depth_options
@lens_options
@note_options
def diagnose_cli(
    image: Annotated[Path, typer.Argument(help="A picture (PNG/JPEG/TIFF sRGB, EXR/.npy linear), or a folder of pictures (then --csv).")],
    lens: LensSettings,
    depth: DepthSource,
    note: NoteSettings,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report (score, implied f-number, the five signs, primary) as JSON.", rich_help_panel=_OUTPUTS)] = None,
    overlay: Annotated[Path | None, typer.Option("--overlay", help="Write the picture with each flagged sign's heat map, box and label (.png).", rich_help_panel=_OUTPUTS)] = None,
    reference: Annotated[Path | None, typer.Option("--reference", help="Write the picture beside bokehsim's physical render of the same shot (8-bit).", rich_help_panel=_OUTPUTS)] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Folder batch: one row per picture (file, score, implied f-number, each sign's severity, primary).", rich_help_panel=_OUTPUTS)] = None,
) -> None:
    """Diagnose a picture's depth of field against its shot: cutout, absent distance, contradictory
    optics, failed hierarchy, fine pattern. Without -N the f-number is fitted.

    Example: bokehsim diagnose generated.png --depth depth.npy -f 50 --focus-at 0.5,0.4 --overlay overlay.png
    """
    warn = lambda line: err_console.print(f"[yellow]warning:[/] {line}", soft_wrap=True)  # noqa: E731
    if image.is_dir():
        if json_out or overlay or reference:
            raise InputError("--json/--overlay/--reference: outputs of one picture; with a folder give --csv")
        if note.path is not None:
            raise InputError("--note: one row per run of one picture; a folder's rows are in --csv")
        if csv_out is None:
            raise InputError(f"--csv: required with a folder of pictures ({image})")
        with LazyProgress("diagnosing", stderr=err_console) as progress:
            rows = diagnose_folder(image, csv_out, lens=lens, depth=depth, progress=progress.update, warn=warn)
        out_console.print(summary_table(rows))
        err_console.print(f"wrote {csv_out} ({len(rows)} pictures)")
        return
    if csv_out is not None:
        raise InputError("--csv: for a folder of pictures; for one picture use --json")
    report, parameters = diagnose_file(image, lens=lens, depth=depth, outputs=DiagnoseOutputs(json_out, overlay, reference), warn=warn)
    note_run(note, parameters, score=report.score)
    out_console.print(report_table(report))
    for path in (json_out, overlay, reference):
        if path is not None:
            err_console.print(f"wrote {path}")


def report_table(report: Report) -> Table:
    """The report as a table: one row per sign, the score and primary in the title."""
    n = "?" if report.implied_f_number is None else f"f/{report.implied_f_number:.2g} (from {report.implied_from}{f_number_gap(report)})"
    thumb = "n/a" if report.thumbnail_separation is None else f"{report.thumbnail_separation:.2f}"
    table = Table(title=f"score {report.score:.0f}/100, implied {n}, thumbnail separation {thumb}, "
                        f"primary: {report.primary or 'none'}", title_justify="left")
    for column in ("sign", "severity", "flagged", "where (x, y, w, h)", "measured"):
        table.add_column(column)
    for sign in report.signs:
        table.add_row(sign.sign, f"{sign.severity:.2f}", "yes" if sign.flagged else "",
                      "" if sign.where is None else ", ".join(map(str, sign.where)), sign.note)
    return table


def f_number_gap(report: Report) -> str:
    """How far the implied f-number lies from the stated one, in stops, where it is half a stop or
    more (``""`` otherwise, and where no f-number was stated: then the implied one was used)."""
    if report.implied_f_number is None or report.f_number == report.implied_f_number:
        return ""
    stops = 2 * math.log2(report.f_number / report.implied_f_number)  # a stop is a factor sqrt(2) in N
    if abs(stops) < 0.5:
        return ""
    return f"; {abs(stops):.1f} stops {'wider' if stops > 0 else 'narrower'} than the stated f/{report.f_number:.2g}"


def summary_table(rows: list[dict]) -> Table:
    """The batch summary: how many pictures each sign is primary in, and the mean score."""
    scores = [row["score"] for row in rows if not row.get("error")]
    primaries = Counter(row.get("primary") or "none" for row in rows if not row.get("error"))
    mean = f"{sum(scores) / len(scores):.0f}" if scores else "n/a"
    table = Table(title=f"{len(rows)} pictures, mean score {mean}, {len(rows) - len(scores)} not diagnosed", title_justify="left")
    table.add_column("primary")
    table.add_column("pictures", justify="right")
    for name in (*SIGN_NAMES, "none"):
        table.add_row(name, str(primaries.get(name, 0)))
    return table

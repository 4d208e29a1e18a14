"""`bokehsim fix`: repair the depth of field of an almost-good picture, never touching the subject.

The command parses and names the options; :func:`bokehsim.repair.files.fix_files` does the work.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..repair.files import fix_files
from ..jobs import DepthSource, LensSettings
from ._app import app, err_console, handle_input_errors
from ..notebook import NoteSettings, note_run
from ._options import depth_options, lens_options, note_options
from ._progress import LazyProgress


class Mode(str, Enum):
    """A step that measures and decides by itself (``auto``) or is skipped (``off``)."""

    auto = "auto"
    off = "off"


class HierarchyMode(str, Enum):
    """``--hierarchy``: the loudness blur forbids (``auto``), colour variety too (``colour``), or none."""

    auto = "auto"
    colour = "colour"
    off = "off"


@app.command("fix")
@handle_input_errors
@depth_options
@lens_options
@note_options
def fix_cli(
    image: Annotated[Path, typer.Argument(help="The picture to fix: PNG/JPEG/TIFF (sRGB), EXR/float TIFF/.npy (linear).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The fixed picture; same bit depth as the input, alpha kept.")],
    lens: LensSettings,
    depth: DepthSource,
    note: NoteSettings,
    subject_mask: Annotated[Path | None, typer.Option("--subject-mask", help="White where the subject must not change (same size as IMAGE).")] = None,
    existing_blur: Annotated[Path | None, typer.Option("--existing-blur", help="Float map (.npy/.exr/.tif) of the CoC in px the picture already shows (default: measured by diagnose's defocus estimate).")] = None,
    tone: Annotated[Mode, typer.Option("--tone", help="Clipped highlights expanded before the blur and rolled off after it: auto or off.")] = Mode.auto,
    black_point: Annotated[float | None, typer.Option("--black-point", help="Linear level mapped to black over the picture but the subject (the black is measured, never moved unasked).")] = None,
    rims: Annotated[Mode, typer.Option("--rims", help="Unmix subject colour smeared into the re-blurred band around the subject, and replace a cut-out's lines and sharp strip by the background: auto or off.")] = Mode.auto,
    grain: Annotated[Mode, typer.Option("--grain", help="Give re-blurred regions the sharp region's grain: auto or off.")] = Mode.auto,
    hierarchy: Annotated[HierarchyMode, typer.Option("--hierarchy", help="Where diagnose flags failed-hierarchy, calm the background's local contrast to what it allows (auto), its colour variety too (colour), or nothing (off).")] = HierarchyMode.auto,
    compare: Annotated[Path | None, typer.Option("--compare", help="Also write before | after side by side (.png).", rich_help_panel="Outputs")] = None,
    changes: Annotated[Path | None, typer.Option("--changes", help="Also write a heat map of what changed (.png).", rich_help_panel="Outputs")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Also write diagnose's report before and after the fix (.json).", rich_help_panel="Outputs")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthesised grain.")] = 0,
) -> None:
    """Fix an almost-good picture: curve, re-render the missing blur from the geometry, match grain.

    Example: bokehsim fix gen.png --depth depth.npy -f 85 -N 1.8 --focus-at 0.5,0.4 -o fixed.png --compare ba.png
    """
    with LazyProgress("fixing", stderr=err_console) as progress:
        report = fix_files(
            image, output, lens=lens, depth=depth, subject_mask=subject_mask, existing_blur=existing_blur,
            tone=tone.value, black_point=black_point, rims=rims.value, grain=grain.value, hierarchy=hierarchy.value,
            compare=compare, changes=changes, report=report, seed=seed, progress=progress.update,
            warn=lambda line: err_console.print(f"[yellow]warning:[/] {line}", soft_wrap=True),
        )
    note_run(note, report.parameters)
    err_console.print(
        f"wrote {output} ({report.width_px}x{report.height_px}, subject {100 * report.protected_fraction:.0f} % "
        f"untouched, {100 * report.reblurred_fraction:.0f} % of the rest re-blurred, {report.elapsed_s:.1f} s)"
    )

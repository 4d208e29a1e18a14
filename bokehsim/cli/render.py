"""`bokehsim render`: an image and its depth in, depth of field out (plus optional maps and a sidecar).

The command parses and names the options; :func:`bokehsim.jobs.render_files` does the work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .. import tone
from ..jobs import DepthSource, LensSettings, render_files
from ..notebook import NoteSettings, note_run
from ._app import app, err_console, handle_input_errors
from ._options import BitDepth, Device, DeviceOpt, depth_options, lens_options, note_options
from ._progress import LazyProgress


@app.command("render")
@handle_input_errors
@depth_options
@lens_options
@note_options
def render_cli(
    image: Annotated[Path, typer.Argument(help="Input photo: PNG/JPEG/TIFF (sRGB), EXR/float TIFF/.npy (linear HDR).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output image; its extension picks the format.")],
    lens: LensSettings,
    depth: DepthSource,
    note: NoteSettings,
    coc_map: Annotated[Path | None, typer.Option("--coc-map", help="Also write the signed CoC in pixels (.npy/.exr float, .png colour-coded).", rich_help_panel="Outputs")] = None,
    hole_matte: Annotated[Path | None, typer.Option("--hole-matte", help="Also write where hidden background was invented (0..1).", rich_help_panel="Outputs")] = None,
    bit_depth: Annotated[BitDepth | None, typer.Option("--bit-depth", help="8 or 16 for PNG/TIFF outputs (default: as the input).", rich_help_panel="Outputs")] = None,
    highlights: Annotated[bool, typer.Option("--highlights/--no-highlights", help="Expand clipped highlights of 8/16-bit inputs before the blur and roll them off after.", rich_help_panel="Highlights")] = True,
    highlight_threshold: Annotated[float, typer.Option("--highlight-threshold", help="Linear value where highlight expansion starts, in (0, 1).", rich_help_panel="Highlights")] = tone.DEFAULT_HIGHLIGHT_THRESHOLD,
    highlight_gain: Annotated[float, typer.Option("--highlight-gain", help="Linear brightness given to a clipped pixel (>= 1).", rich_help_panel="Highlights")] = tone.DEFAULT_HIGHLIGHT_GAIN,
    device: DeviceOpt = Device.auto,
    deterministic: Annotated[bool, typer.Option("--deterministic", help="Bit-identical GPU output from run to run (fixed-point accumulation).", rich_help_panel="Device")] = False,
    tile_size: Annotated[int | None, typer.Option("--tile-size", help="Render in overlapping tiles of this many px, at least 64 (default on CUDA: as large as memory allows).", rich_help_panel="Device")] = None,
) -> None:
    """Render the depth of field a real lens gives, from an image and its depth map.

    Example: bokehsim render photo.png --depth depth.npy -f 85 -N 1.8 --focus-at 0.5,0.4 -o out.png
    """
    with LazyProgress("rendering", stderr=err_console) as progress:
        report = render_files(
            image, output, lens=lens, depth=depth, coc_map=coc_map, hole_matte=hole_matte,
            bit_depth=int(bit_depth.value) if bit_depth else None, highlights=highlights,
            highlight_threshold=highlight_threshold, highlight_gain=highlight_gain, device=device.value,
            deterministic=deterministic, tile_size=tile_size, progress=progress.update,
            warn=lambda line: err_console.print(f"[yellow]warning:[/] {line}", soft_wrap=True),
        )
    note_run(note, report.parameters)
    err_console.print(
        f"wrote {output} ({report.width_px}x{report.height_px}, focus {report.focus_distance_m:.3g} m, "
        f"max CoC {report.max_abs_coc_px:.1f} px, {report.layers} layers, {report.elapsed_s:.1f} s)"
    )

"""`bokehsim pull`: a focus pull or aperture ramp from one RGB-D frame, as an mp4 or an image sequence.

The command parses and names the options; :func:`bokehsim.pull.pull_files` does the work.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..jobs import DepthSource, LensSettings
from ..pull import pull_files
from ._app import app, err_console, handle_input_errors
from ._options import Device, DeviceOpt, depth_options, lens_options
from ._progress import LazyProgress

_PULL = "Pull"


class Easing(str, Enum):
    """How the lens moves from the first frame to the last."""

    smooth = "smooth"
    linear = "linear"


@app.command("pull")
@handle_input_errors
@depth_options
@lens_options
def pull_cli(
    image: Annotated[Path, typer.Argument(help="Input photo: PNG/JPEG/TIFF (sRGB), EXR/float TIFF/.npy (linear HDR).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="pull.mp4 (needs the video extra), or pull.png/.tif/.exr for pull_0001.png ...")],
    lens: LensSettings,
    depth: DepthSource,
    to_distance: Annotated[float | None, typer.Option("--to-distance", help="Focus distance (m) of the last frame: a focus pull.", rich_help_panel=_PULL)] = None,
    f_number_to: Annotated[float | None, typer.Option("--f-number-to", help="f-number of the last frame: an aperture ramp.", rich_help_panel=_PULL)] = None,
    frames: Annotated[int, typer.Option("--frames", help="Number of frames, at least 2.", rich_help_panel=_PULL)] = 48,
    fps: Annotated[float, typer.Option("--fps", help="Frames per second of the video.", rich_help_panel=_PULL)] = 24.0,
    easing: Annotated[Easing, typer.Option("--easing", help="smooth (ease in and out, like a focus puller) or linear.", rich_help_panel=_PULL)] = Easing.smooth,
    highlights: Annotated[bool, typer.Option("--highlights/--no-highlights", help="Expand clipped highlights of 8/16-bit inputs before the blur and roll them off after.", rich_help_panel="Highlights")] = True,
    device: DeviceOpt = Device.auto,
) -> None:
    """Rack focus (--to-distance) or ramp the aperture (--f-number-to) over one RGB-D frame, every frame a full render.

    Example: bokehsim pull photo.png --depth depth.npy --shot scenes/shots/anamorphic-two-shot.toml --to-distance 2.6 -o pull.mp4
    """
    with LazyProgress("pulling focus", stderr=err_console) as progress:
        report = pull_files(
            image, output, lens=lens, depth=depth, to_distance_m=to_distance, f_number_to=f_number_to, frames=frames,
            fps=fps, easing=easing.value, highlights=highlights, device=device.value, progress=progress.update,
            warn=lambda line: err_console.print(f"[yellow]warning:[/] {line}", soft_wrap=True),
        )
    err_console.print(f"wrote {output} ({report.frames} frames, {report.width_px}x{report.height_px}, {report.elapsed_s:.1f} s)")

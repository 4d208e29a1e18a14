"""`bokehsim kernels`: a contact sheet of an aperture look, rendered point lights across the frame."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from .. import io
from ..contact_sheet import contact_sheet, default_cocs, to_png_codes
from ..errors import InputError
from ..lens import Lens, sensor_width_mm
from ..looks import resolve_aperture, suggested_lens
from ._aperture_opts import ApertureOpt, LookOpt, ProfileOpt, SaSignOpt
from ._app import FNumberOpt, FocalLengthOpt, SensorOpt, app, err_console, handle_input_errors
from ._options import Device, DeviceOpt
from ._progress import LazyProgress


@app.command("kernels")
@handle_input_errors
def kernels_cli(
    output: Annotated[Path, typer.Option("--output", "-o", help="The contact sheet, a .png (a .png.json legend is written beside it).")],
    look: LookOpt = None,
    aperture: ApertureOpt = None,
    profile: ProfileOpt = None,
    sa_sign: SaSignOpt = None,
    coc: Annotated[str | None, typer.Option("--coc", help="Signed CoC diameters of the tiles in px, comma-separated (negative = in front of focus). Default: +-width/20 and +-width/40.", rich_help_panel="Sheet")] = None,
    grid: Annotated[str, typer.Option("--grid", help="Point lights across the frame, COLUMNSxROWS.", rich_help_panel="Sheet")] = "5x3",
    size: Annotated[str, typer.Option("--size", help="Frame size of each tile, WIDTHxHEIGHT in px.", rich_help_panel="Sheet")] = "960x640",
    focal_length: FocalLengthOpt = None,
    f_number: FNumberOpt = None,
    focus_distance: Annotated[float, typer.Option("--focus-distance", help="S1 in metres, to label tiles with distances.", rich_help_panel="Lens")] = 2.0,
    sensor: SensorOpt = "full-frame",
    device: DeviceOpt = Device.auto,
) -> None:
    """Render a contact sheet of a look: point lights from the centre to the corners, in front of and behind focus.

    Example: bokehsim kernels --look vintage-58mm-swirl -o swirl.png
    """
    started = time.perf_counter()
    if output.suffix.lower() != ".png":
        raise InputError(f"{output}: expected a .png contact sheet")
    io.check_output_path(output, [])
    width, height = _pair("--size", size)
    columns, rows = _pair("--grid", grid)
    cocs = _cocs(coc) if coc is not None else default_cocs(width)
    chosen = resolve_aperture(aperture, profile, look, sa_sign=sa_sign)
    suggested_f, suggested_n = suggested_lens(look)
    focal = focal_length if focal_length is not None else suggested_f
    number = f_number if f_number is not None else suggested_n
    lens = None
    if focal is not None and number is not None:
        lens = Lens(focal_length_mm=focal, f_number=number, focus_distance_m=focus_distance, sensor_width_mm=sensor_width_mm(sensor))

    with LazyProgress("rendering tiles", stderr=err_console) as progress:
        sheet = contact_sheet(
            chosen, width=width, height=height, columns=columns, rows=rows, coc_px=cocs, lens=lens,
            device=device.value, progress=progress.update,
        )
    io.write_preview_png(output, to_png_codes(sheet.image))
    parameters = {"command": "kernels", "look": look, "sa_sign": sa_sign, "output": output, **sheet.legend}
    io.write_sidecar(output, parameters, [], time.perf_counter() - started)
    err_console.print(
        f"wrote {output} ({len(sheet.legend['tiles'])} tiles of {width}x{height}, "
        f"{columns}x{rows} lights, aperture {chosen.spec}, profile {chosen.profile.spec})"
    )


def _pair(option: str, text: str) -> tuple[int, int]:
    try:
        first, second = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise InputError(f"{option}: expected AxB with two whole numbers (e.g. 960x640), got {text!r}") from None
    if first < 1 or second < 1 or first > 16384 or second > 16384:
        raise InputError(f"{option}: expected sizes from 1 to 16384, got {text!r}")
    return first, second


def _cocs(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--coc: expected comma-separated pixel values like -40,-20,20,40, got {text!r}") from None
    if not values:
        raise InputError(f"--coc: expected at least one value, got {text!r}")
    return values

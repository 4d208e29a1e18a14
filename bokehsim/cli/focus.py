"""`bokehsim focus`: the metric depth under a point, the frame's depth range and the lens's depth of field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..depth import INFINITY_INVERSE_DEPTH, check_depth_options, load_depth, parse_point
from ..jobs import DepthSource
from ..errors import InputError
from ..focus import focus_report
from ..lens import FULL_FRAME_ACCEPTABLE_COC_MM, check_lens, sensor_width_mm
from ._app import FNumberOpt, FocalLengthOpt, SensorOpt, app, err_console, handle_input_errors, out_console
from ._options import FocusDistanceOpt, depth_options


@app.command("focus")
@handle_input_errors
@depth_options
def focus_cli(
    image: Annotated[Path, typer.Argument(help="The photo (PNG/JPEG/TIFF/EXR/.npy).", show_default=False)],
    depth: DepthSource,
    at: Annotated[str | None, typer.Option("--at", help="Point to measure, X,Y (default: --focus-at, else the centre).", rich_help_panel="Focus")] = None,
    focal_length: FocalLengthOpt = None,
    f_number: FNumberOpt = None,
    sensor: SensorOpt = "full-frame",
    focus_distance: FocusDistanceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (with the calibration report) instead of text.")] = False,
) -> None:
    """Print the depth under a point and, for a lens, where it is sharp when focused there.

    Example: bokehsim focus photo.png --depth depth.png --subject-distance 1.8 --focus-at 0.5,0.4 -f 85 -N 1.8
    """
    sensor_mm = check_lens_args(focal_length, f_number, sensor, focus_distance)
    check_depth_options(depth.options, depth.path)
    from ..io import read_image  # file formats: imported when a command runs, not at --help

    picture = read_image(image)
    height, width = picture.color.shape[-2:]
    x, y = parse_point(at or depth.options.focus_at or "0.5,0.5", width, height, name="--at" if at else "--focus-at")
    result = load_depth(depth.path, picture.color, depth.options)
    report = focus_report(
        result.depth_m, x, y, focal_length_mm=focal_length, f_number=f_number,
        sensor_width_mm=sensor_mm, focus_distance_m=focus_distance,
    )
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", markup=True, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps({**report, "depth": result.report}, indent=2))
    else:
        out_console.print("\n".join(format_report(report, sensor_mm)), markup=False, soft_wrap=True)


def check_lens_args(focal_length: float | None, f_number: float | None, sensor: str, focus_distance: float | None) -> float:
    """Validate the lens options before any file is read; return the sensor width in mm."""
    sensor_mm = sensor_width_mm(sensor)
    if (focal_length is None) != (f_number is None):
        raise InputError("--focal-length/--f-number: the depth of field needs both, got only one")
    if focus_distance is not None and focal_length is None:
        raise InputError("--focus-distance: only used for the depth of field; pass --focal-length and --f-number too")
    if focal_length is not None:
        check_lens(focal_length, f_number, focus_distance if focus_distance is not None else 1e9, sensor_mm)
    return sensor_mm


def format_report(report: dict, sensor_mm: float) -> list[str]:
    """The lines `focus` prints: label, then the value with its unit."""
    low, high = report["depth_range_m"]
    lines = [
        f"point           {report['point_px'][0]}, {report['point_px'][1]} px",
        f"depth at point  {_metres(report['depth_m'])}",
        f"depth range     {_metres(low)} to {_metres(high)} (0.5th to 99.5th percentile)",
    ]
    if "focus_distance_m" in report:
        coc_mm = FULL_FRAME_ACCEPTABLE_COC_MM * sensor_mm / 36.0
        near_coc, far_coc = report["coc_px_at_range"]
        lines += [
            f"focus distance  {_metres(report['focus_distance_m'])}",
            f"hyperfocal      {_metres(report['hyperfocal_m'])} (acceptable CoC {coc_mm:.3f} mm)",
            f"sharp from      {_metres(report['dof_near_m'])} to {_metres(report['dof_far_m'])}",
            f"blur            {near_coc:+.1f} px at the near end, {far_coc:+.1f} px at the far end (CoC diameter)",
        ]
    return lines


def _metres(value: float | str) -> str:
    if value == "inf" or value >= 1.0 / INFINITY_INVERSE_DEPTH:  # calibrated "at infinity"
        return "infinity"
    return f"{value:.3f} m"

"""`bokehsim focus`: the metric depth under a point, the frame's depth range and the lens's depth of field;
with --shot and no image, what a shot gives (docs/shots.md)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from ..depth import INFINITY_INVERSE_DEPTH, check_depth_options, load_depth, parse_point
from ..jobs import DepthSource
from ..errors import InputError
from ..focus import focus_report
from ..lens import FULL_FRAME_ACCEPTABLE_COC_MM, check_lens, sensor_width_mm
from ..looks import suggested_lens
from ..shot import Shot, check_shot, load_shot, merge_shot
from ..shot_focus import TwoPlanes, also_sharp, shot_report
from ._app import FNumberOpt, FocalLengthOpt, SensorOpt, app, err_console, handle_input_errors, out_console
from ._options import FocusDistanceOpt, ShotOpt, depth_options


@app.command("focus")
@handle_input_errors
@depth_options
def focus_cli(
    image: Annotated[Path | None, typer.Argument(help="The photo (PNG/JPEG/TIFF/EXR/.npy); optional with --shot.", show_default=False)] = None,
    *,
    depth: DepthSource,
    at: Annotated[str | None, typer.Option("--at", help="Point to measure, X,Y (default: --focus-at, else the centre).", rich_help_panel="Focus")] = None,
    focal_length: FocalLengthOpt = None,
    f_number: FNumberOpt = None,
    sensor: SensorOpt = None,
    focus_distance: FocusDistanceOpt = None,
    shot: ShotOpt = None,
    also_sharp_m: Annotated[float | None, typer.Option("--also-sharp", help="With --shot: a second plane (m) to keep sharp too; prints the focus and the widest f-number.", rich_help_panel="Shot")] = None,
    max_coc: Annotated[float, typer.Option("--max-coc", help="With --also-sharp: the CoC (px) both planes may have.", rich_help_panel="Shot")] = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (with the calibration report) instead of text.")] = False,
) -> None:
    """Print the depth under a point and, for a lens, where it is sharp when focused there; with
    --shot (no image needed), the depth of field, hyperfocal distance and background blur of a shot.

    Example: bokehsim focus photo.png --depth depth.png --subject-distance 1.8 --focus-at 0.5,0.4 -f 85 -N 1.8;
    bokehsim focus --shot scenes/shots/anamorphic-two-shot.toml --also-sharp 2.6
    """
    if not (math.isfinite(max_coc) and max_coc > 0):
        raise InputError(f"--max-coc: expected a CoC > 0 px, got {max_coc:g}")
    if image is None or shot is not None:
        return shot_focus(image, depth, shot, focal_length=focal_length, f_number=f_number, sensor=sensor,
                          focus_distance=focus_distance, also_sharp_m=also_sharp_m, max_coc=max_coc, as_json=as_json)
    if also_sharp_m is not None:
        raise InputError("--also-sharp: needs --shot FILE (the subject is the shot's)")
    sensor = sensor or "full-frame"
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


def shot_focus(image, depth: DepthSource, shot_path: Path | None, *, focal_length, f_number, sensor, focus_distance,
               also_sharp_m, max_coc, as_json) -> None:
    """`focus --shot`: the shot's report (explicit lens options win), at the image's width if one is given."""
    if shot_path is None:
        raise InputError("focus: give an IMAGE (with --depth) or --shot FILE")
    the_shot = merge_shot(load_shot(shot_path), focal_length_mm=focal_length, f_number=f_number,
                          camera_to_subject_m=focus_distance, sensor=sensor)
    check_shot(the_shot, source=str(shot_path))
    if also_sharp_m is not None:
        check_lens(the_shot.focal_length_mm, the_shot.f_number, also_sharp_m, the_shot.sensor_width_mm)
    if depth.path is not None or depth.options.estimate:
        raise InputError("--depth: not read with --shot (the shot's report needs no depth); drop --shot to measure a depth map")
    width_px = None
    if image is not None:  # only its width: the pixel numbers of the report
        from ..io import read_image

        width_px = read_image(image).color.shape[-1]
    report = shot_report(the_shot, image_width_px=width_px)
    two = None
    if also_sharp_m is not None:
        two = also_sharp(the_shot, also_sharp_m, max_coc_px=max_coc, image_width_px=width_px,
                         widest_f_number=suggested_lens(the_shot.look)[1])
        report["also_sharp"] = {key: value for key, value in asdict(two).items()}
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        out_console.print("\n".join(shot_lines(report, the_shot, two, max_coc)), markup=False, soft_wrap=True)


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


def shot_lines(report: dict, shot: Shot, two: TwoPlanes | None, max_coc_px: float) -> list[str]:
    """The lines `focus --shot` prints for a shot (and the two-plane answer of --also-sharp)."""
    lines = [
        f"shot            {shot.focal_length_mm:g} mm f/{shot.f_number:g}, {shot.sensor} ({report['sensor_width_mm']:g} mm), "
        f"focused at {_metres(report['focus_distance_m'])}",
        f"hyperfocal      {_metres(report['hyperfocal_m'])} (acceptable CoC {report['acceptable_coc_mm']:.3f} mm)",
        f"sharp from      {_metres(report['dof_near_m'])} to {_metres(report['dof_far_m'])}",
        f"background      {_metres(report['background_distance_m'])}: CoC {report['background_coc_mm']:.3f} mm = "
        f"{100 * report['background_coc_fraction']:.2f}% of the frame width ({report['background_coc_px']:.1f} px at "
        f"{report['image_width_px']} px): {report['background']}",
    ]
    if two is not None:
        lines.append(
            f"also sharp      {_metres(two.near_m)} and {_metres(two.far_m)}: focus at {_metres(two.focus_distance_m)}, "
            f"f/{two.f_number:.1f} keeps both within {max_coc_px:g} px (CoC {two.coc_px:.2f} px, Airy disc {two.airy_px:.2f} px)"
        )
        if two.problem:
            lines.append(f"                {two.problem}")
    return lines

"""`bokehsim render`: an image and its depth in, depth of field out (plus optional maps and a sidecar)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer

from .. import io, tone
from ..errors import InputError
from ..lens import Lens, sensor_width_mm
from ..depth import depth_at, load_depth, parse_point
from ..looks import resolve_aperture, suggested_lens
from ._aperture_opts import ApertureOpt, LookOpt, ProfileOpt, SaSignOpt
from ._app import FNumberOpt, FocalLengthOpt, SensorOpt, app, err_console, handle_input_errors
from ._depth_opts import (
    DEFAULTS, BackgroundAtOpt, BackgroundDistanceOpt, BaselineOpt, DepthKindOpt, DepthModelOpt, DepthOpt,
    EstimateDepthOpt, FarOpt, FocalLengthPxOpt, FocusAtOpt, NearOpt, OfflineOpt, RefineDepthOpt,
    ResizeDepthOpt, SubjectDistanceOpt, depth_options_from_cli,
)
from ._progress import LazyProgress

FLOAT_OUTPUTS = {".exr", ".npy"}


@app.command("render")
@handle_input_errors
def render_cli(
    image: Annotated[Path, typer.Argument(help="Input photo: PNG/JPEG/TIFF (sRGB), EXR/float TIFF/.npy (linear HDR).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output image; its extension picks the format.")],
    focal_length: FocalLengthOpt = None,
    f_number: FNumberOpt = None,
    depth: DepthOpt = DEFAULTS["depth"],
    focus_distance: Annotated[float | None, typer.Option("--focus-distance", help="S1: distance the lens is focused at, in metres.", rich_help_panel="Focus")] = None,
    focus_at: FocusAtOpt = DEFAULTS["focus_at"],
    sensor: SensorOpt = "full-frame",
    depth_kind: DepthKindOpt = DEFAULTS["depth_kind"],
    estimate_depth: EstimateDepthOpt = DEFAULTS["estimate_depth"],
    depth_model: DepthModelOpt = DEFAULTS["depth_model"],
    offline: OfflineOpt = DEFAULTS["offline"],
    refine_depth: RefineDepthOpt = DEFAULTS["refine_depth"],
    resize_depth: ResizeDepthOpt = DEFAULTS["resize_depth"],
    near: NearOpt = DEFAULTS["near"],
    far: FarOpt = DEFAULTS["far"],
    subject_distance: SubjectDistanceOpt = DEFAULTS["subject_distance"],
    background_distance: BackgroundDistanceOpt = DEFAULTS["background_distance"],
    background_at: BackgroundAtOpt = DEFAULTS["background_at"],
    baseline: BaselineOpt = DEFAULTS["baseline"],
    focal_length_px: FocalLengthPxOpt = DEFAULTS["focal_length_px"],
    look: LookOpt = None,
    aperture: ApertureOpt = None,
    profile: ProfileOpt = None,
    sa_sign: SaSignOpt = None,
    coc_map: Annotated[Path | None, typer.Option("--coc-map", help="Also write the signed CoC in pixels (.npy/.exr float, .png colour-coded).", rich_help_panel="Outputs")] = None,
    hole_matte: Annotated[Path | None, typer.Option("--hole-matte", help="Also write where hidden background was invented (0..1).", rich_help_panel="Outputs")] = None,
    bit_depth: Annotated[int | None, typer.Option("--bit-depth", help="8 or 16 for PNG/TIFF outputs (default: as the input).", rich_help_panel="Outputs")] = None,
    highlights: Annotated[bool, typer.Option("--highlights/--no-highlights", help="Expand clipped highlights of 8/16-bit inputs before the blur and roll them off after.", rich_help_panel="Highlights")] = True,
    highlight_threshold: Annotated[float, typer.Option("--highlight-threshold", help="Linear value where highlight expansion starts.", rich_help_panel="Highlights")] = tone.DEFAULT_HIGHLIGHT_THRESHOLD,
    highlight_gain: Annotated[float, typer.Option("--highlight-gain", help="Linear brightness given to a clipped pixel.", rich_help_panel="Highlights")] = tone.DEFAULT_HIGHLIGHT_GAIN,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.", rich_help_panel="Device")] = "auto",
    deterministic: Annotated[bool, typer.Option("--deterministic", help="Bit-identical GPU output from run to run (fixed-point accumulation).", rich_help_panel="Device")] = False,
    tile_size: Annotated[int | None, typer.Option("--tile-size", help="Render in overlapping tiles of this many px (default on CUDA: as large as memory allows).", rich_help_panel="Device")] = None,
) -> None:
    """Render the depth of field a real lens gives, from an image and its depth map.

    Example: bokehsim render photo.png --depth depth.npy -f 85 -N 1.8 --focus-at 0.5,0.4 -o out.png
    """
    started = time.perf_counter()
    side_outputs = [p for p in (coc_map, hole_matte) if p is not None]
    for path in (output, *side_outputs):
        io.check_output_path(path, [image, depth])
    if len({p.resolve() for p in (output, *side_outputs)}) != 1 + len(side_outputs):
        raise InputError(f"{output}: the output, --coc-map and --hole-matte must be different files")
    check_choices(bit_depth, device, focus_distance, focus_at, tile_size)
    sensor_mm = sensor_width_mm(sensor)
    lens_look = resolve_aperture(aperture, profile, look, sa_sign=sa_sign)
    focal_length, f_number = lens_numbers(focal_length, f_number, look)
    depth_options = depth_options_from_cli(
        depth_kind=depth_kind, near=near, far=far, subject_distance=subject_distance,
        background_distance=background_distance, background_at=background_at, focus_at=focus_at,
        baseline=baseline, focal_length_px=focal_length_px, estimate_depth=estimate_depth,
        depth_model=depth_model, offline=offline, refine_depth=refine_depth, resize_depth=resize_depth,
    )

    picture = io.read_image(image)
    depth_result = load_depth(depth, picture.color, depth_options)
    for warning in depth_result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    depth_m = depth_result.depth_m
    focus_m, focus_report = resolve_focus(focus_distance, focus_at, depth_m)
    lens = Lens(focal_length_mm=focal_length, f_number=f_number, focus_distance_m=focus_m, sensor_width_mm=sensor_mm)
    clipped = highlights and picture.transfer == "srgb"

    with LazyProgress("rendering", stderr=err_console) as progress:
        result = render_picture(
            picture, depth_m, lens, lens_look, clipped=clipped, threshold=highlight_threshold, gain=highlight_gain,
            hole_matte=hole_matte is not None, device=device, deterministic=deterministic, tile_size=tile_size,
            progress=progress.update,
        )
    write_outputs(result, picture, output, bit_depth, coc_map, hole_matte)

    parameters = {
        "command": "render", "image": image, "depth": depth, "output": output,
        "focal_length_mm": focal_length, "f_number": f_number, "focus_distance_m": focus_m,
        "focus": focus_report, "sensor": sensor, "sensor_width_mm": sensor_mm, "look": look, "aperture": lens_look.spec, "profile": lens_look.profile.spec,
        "depth_calibration": depth_result.report, "highlights": {"expanded": clipped, "threshold": highlight_threshold, "gain": highlight_gain},
        "bit_depth": bit_depth, "device": device, "deterministic": deterministic, "tile_size": tile_size, "layers": result.layers,
        "max_abs_coc_px": float(result.coc_px.abs().max()), "coc_map": coc_map, "hole_matte": hole_matte,
    }
    elapsed = time.perf_counter() - started
    for path in (output, *side_outputs):
        io.write_sidecar(path, parameters, [image] + ([depth] if depth else []), elapsed)
    err_console.print(
        f"wrote {output} ({picture.color.shape[2]}x{picture.color.shape[1]}, focus {focus_m:.3g} m, "
        f"max CoC {parameters['max_abs_coc_px']:.1f} px, {result.layers} layers, {elapsed:.1f} s)"
    )


def render_picture(picture, depth_m, lens, aperture, *, clipped, threshold, gain, hole_matte, device, deterministic, tile_size, progress):
    """render_full, or render_tiled on CUDA / with --tile-size, so a picture too large for the GPU's
    memory is rendered in tiles instead of failing."""
    from ..render import render_full, resolve_device
    from ..tiling import render_tiled

    options = dict(
        aperture=aperture, alpha=picture.alpha, clipped_highlights=clipped, highlight_threshold=threshold,
        highlight_gain=gain, hole_matte=hole_matte, device=device, progress=progress,
    )
    on_cuda = resolve_device(device, picture.color).type == "cuda"
    chromatic = aperture.channel_focus_scale(focal_length_mm=lens.focal_length_mm, focus_distance_m=lens.focus_distance_m)
    if (tile_size is None and not on_cuda) or chromatic is not None:
        return render_full(picture.color, depth_m, lens, deterministic=deterministic, **options)
    return render_tiled(picture.color, depth_m, lens, tile_px=tile_size, deterministic=deterministic, **options)


def check_choices(
    bit_depth: int | None, device: str, focus_distance: float | None, focus_at: str | None, tile_size: int | None
) -> None:
    """Validate option combinations before any file is read or written."""
    if tile_size is not None and tile_size < 64:
        raise InputError(f"--tile-size: expected at least 64 px, got {tile_size}")
    if bit_depth not in (None, 8, 16):
        raise InputError(f"--bit-depth: expected 8 or 16, got {bit_depth}")
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device: expected auto, cpu or cuda, got {device!r}")
    if focus_distance is None and focus_at is None:
        raise InputError("focus: give --focus-distance M or --focus-at X,Y")


def lens_numbers(focal_length: float | None, f_number: float | None, look: str | None) -> tuple[float, float]:
    """-f and -N as given, else as the --look suggests; one line naming what is missing."""
    suggested_f, suggested_n = suggested_lens(look)
    focal_length = focal_length if focal_length is not None else suggested_f
    f_number = f_number if f_number is not None else suggested_n
    for value, option in ((focal_length, "--focal-length/-f"), (f_number, "--f-number/-N")):
        if value is None:
            raise InputError(f"{option}: required (or a --look that suggests it)")
    return focal_length, f_number


def resolve_focus(focus_distance: float | None, focus_at: str | None, depth_m: torch.Tensor):
    """S1 in metres from --focus-distance, or the robust (median) depth under --focus-at."""
    if focus_distance is not None:
        return focus_distance, {"distance_m": focus_distance}
    height, width = depth_m.shape
    x, y = parse_point(focus_at, width, height)
    return depth_at(depth_m, x, y), {"at": focus_at, "pixel": [x, y]}


def write_outputs(result, picture: io.ImageData, output: Path, bit_depth: int | None, coc_map: Path | None, hole_matte: Path | None) -> None:
    """Write the image (and the optional maps) in the formats their extensions ask for."""
    channels = picture.color.shape[0]
    color = result.image[:channels].cpu()
    alpha = result.image[channels:].cpu() if picture.alpha is not None else None
    float_out = output.suffix.lower() in FLOAT_OUTPUTS or output.suffix.lower() in (".tif", ".tiff") and bit_depth is None and picture.bit_depth == 32
    depth_bits = 32 if float_out else (bit_depth or (picture.bit_depth if picture.bit_depth in (8, 16) else 16))
    if depth_bits != 32 and picture.transfer == "linear":
        color = tone.compress_highlights(color)  # HDR input: the shoulder applies when writing 8/16-bit
    io.write_image(output, color, alpha=alpha, bit_depth=depth_bits, transfer="linear" if depth_bits == 32 else "srgb")
    if coc_map is not None:
        coc = result.coc_px.cpu()
        if coc_map.suffix.lower() == ".png":
            io.write_preview_png(coc_map, coc_colours(coc))
        else:
            io.write_float_map(coc_map, coc)
    if hole_matte is not None:
        matte = result.hole_matte.cpu()
        if hole_matte.suffix.lower() in FLOAT_OUTPUTS:
            io.write_float_map(hole_matte, matte)
        else:
            io.write_image(hole_matte, matte[None], bit_depth=bit_depth or 8, transfer="linear")


def coc_colours(coc_px: torch.Tensor) -> np.ndarray:
    """A picture of the signed CoC: black in focus, blue in front of focus, orange behind it."""
    scale = float(coc_px.abs().max()) or 1.0
    magnitude = (coc_px.abs() / scale).sqrt()  # sqrt shows the small CoCs near focus
    front = torch.tensor([0.25, 0.6, 1.0])
    behind = torch.tensor([1.0, 0.55, 0.15])
    colour = torch.where((coc_px < 0)[..., None], front, behind) * magnitude[..., None]
    return (colour.clamp(0, 1) * 255).round().to(torch.uint8).numpy()

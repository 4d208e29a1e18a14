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
from ._app import FNumberOpt, FocalLengthOpt, SensorOpt, app, err_console, handle_input_errors
from ._progress import LazyProgress

FLOAT_OUTPUTS = {".exr", ".npy"}


@app.command("render")
@handle_input_errors
def render_cli(
    image: Annotated[Path, typer.Argument(help="Input photo: PNG/JPEG/TIFF (sRGB), EXR/float TIFF/.npy (linear HDR).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output image; its extension picks the format.")],
    focal_length: FocalLengthOpt,
    f_number: FNumberOpt,
    depth: Annotated[Path | None, typer.Option("--depth", "-d", help="Depth map (see the Depth panel for the kinds).", rich_help_panel="Depth")] = None,
    focus_distance: Annotated[float | None, typer.Option("--focus-distance", help="S1: distance the lens is focused at, in metres.", rich_help_panel="Focus")] = None,
    focus_at: Annotated[str | None, typer.Option("--focus-at", help="Focus on the depth under X,Y (pixels, or fractions like 0.5,0.4).", rich_help_panel="Focus")] = None,
    sensor: SensorOpt = "full-frame",
    near: Annotated[float | None, typer.Option("--near", help="Metres at the white end of an 8/16-bit depth map.", rich_help_panel="Depth")] = None,
    far: Annotated[float | None, typer.Option("--far", help="Metres at the black end of an 8/16-bit depth map.", rich_help_panel="Depth")] = None,
    aperture: Annotated[str | None, typer.Option("--aperture", help="Aperture shape, e.g. circle, blades:n=7, cat-eye:strength=0.6.", rich_help_panel="Look")] = None,
    coc_map: Annotated[Path | None, typer.Option("--coc-map", help="Also write the signed CoC in pixels (.npy/.exr float, .png colour-coded).", rich_help_panel="Outputs")] = None,
    hole_matte: Annotated[Path | None, typer.Option("--hole-matte", help="Also write where hidden background was invented (0..1).", rich_help_panel="Outputs")] = None,
    bit_depth: Annotated[int | None, typer.Option("--bit-depth", help="8 or 16 for PNG/TIFF outputs (default: as the input).", rich_help_panel="Outputs")] = None,
    highlights: Annotated[bool, typer.Option("--highlights/--no-highlights", help="Expand clipped highlights of 8/16-bit inputs before the blur and roll them off after.", rich_help_panel="Highlights")] = True,
    highlight_threshold: Annotated[float, typer.Option("--highlight-threshold", help="Linear value where highlight expansion starts.", rich_help_panel="Highlights")] = tone.DEFAULT_HIGHLIGHT_THRESHOLD,
    highlight_gain: Annotated[float, typer.Option("--highlight-gain", help="Linear brightness given to a clipped pixel.", rich_help_panel="Highlights")] = tone.DEFAULT_HIGHLIGHT_GAIN,
    device: Annotated[str, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.")] = "auto",
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
    check_choices(bit_depth, device, focus_distance, focus_at)
    sensor_mm = sensor_width_mm(sensor)

    picture = io.read_image(image)
    depth_m, depth_report = load_depth_for(depth, picture, near, far)
    focus_m, focus_report = resolve_focus(focus_distance, focus_at, depth_m, depth)
    lens = Lens(focal_length_mm=focal_length, f_number=f_number, focus_distance_m=focus_m, sensor_width_mm=sensor_mm)
    clipped = highlights and picture.transfer == "srgb"

    from ..render import render_full

    with LazyProgress("rendering layers", stderr=err_console) as progress:
        result = render_full(
            picture.color, depth_m, lens, aperture=aperture, alpha=picture.alpha, clipped_highlights=clipped,
            highlight_threshold=highlight_threshold, highlight_gain=highlight_gain,
            hole_matte=hole_matte is not None, device=device, progress=progress.update,
        )
    write_outputs(result, picture, output, bit_depth, coc_map, hole_matte)

    parameters = {
        "command": "render", "image": image, "depth": depth, "output": output,
        "focal_length_mm": focal_length, "f_number": f_number, "focus_distance_m": focus_m,
        "focus": focus_report, "sensor": sensor, "sensor_width_mm": sensor_mm, "aperture": aperture or "circle",
        "depth_calibration": depth_report, "highlights": {"expanded": clipped, "threshold": highlight_threshold, "gain": highlight_gain},
        "bit_depth": bit_depth, "device": device, "layers": result.layers,
        "max_abs_coc_px": float(result.coc_px.abs().max()), "coc_map": coc_map, "hole_matte": hole_matte,
    }
    elapsed = time.perf_counter() - started
    for path in (output, *side_outputs):
        io.write_sidecar(path, parameters, [image] + ([depth] if depth else []), elapsed)
    err_console.print(
        f"wrote {output} ({picture.color.shape[2]}x{picture.color.shape[1]}, focus {focus_m:.3g} m, "
        f"max CoC {parameters['max_abs_coc_px']:.1f} px, {result.layers} layers, {elapsed:.1f} s)"
    )


def check_choices(bit_depth: int | None, device: str, focus_distance: float | None, focus_at: str | None) -> None:
    """Validate option combinations before any file is read or written."""
    if bit_depth not in (None, 8, 16):
        raise InputError(f"--bit-depth: expected 8 or 16, got {bit_depth}")
    if device not in ("auto", "cpu", "cuda"):
        raise InputError(f"--device: expected auto, cpu or cuda, got {device!r}")
    if (focus_distance is None) == (focus_at is None):
        raise InputError("focus: give exactly one of --focus-distance M or --focus-at X,Y")


def load_depth_for(depth: Path | None, picture: io.ImageData, near: float | None, far: float | None):
    """Metric z-depth (H, W) for the image, and the calibration report for the sidecar."""
    if depth is None:
        raise InputError("--depth: a depth map is required")
    raw = io.read_depth_raw(depth)
    values = raw.values
    if tuple(values.shape) != tuple(picture.color.shape[1:]):
        raise InputError(
            f"{depth}: depth is {values.shape[1]}x{values.shape[0]} but the image is "
            f"{picture.color.shape[2]}x{picture.color.shape[1]}"
        )
    if raw.is_float:
        if not bool(torch.isfinite(values).all()) or not bool((values > 0).all()):
            raise InputError(f"{depth}: depth must be finite and > 0 m everywhere (found NaN, inf or <= 0)")
        return values, {"kind": "metric"}
    if near is None or far is None:
        raise InputError(f"{depth}: an {raw.bit_depth}-bit depth map is relative inverse depth; give --near M and --far M")
    if not 0 < near < far:
        raise InputError(f"--near/--far: expected 0 < near < far, got near={near}, far={far}")
    inverse = 1.0 / far + values * (1.0 / near - 1.0 / far)  # white (1) = near
    return 1.0 / inverse, {"kind": "inverse", "near_m": near, "far_m": far}


def resolve_focus(focus_distance: float | None, focus_at: str | None, depth_m: torch.Tensor, depth_path):
    """S1 in metres from --focus-distance or the robust depth under --focus-at."""
    if focus_distance is not None:
        return focus_distance, {"distance_m": focus_distance}
    height, width = depth_m.shape
    x, y = parse_point(focus_at, width, height)
    return depth_under(depth_m, x, y), {"at": focus_at, "pixel": [x, y]}


def parse_point(text: str, width: int, height: int) -> tuple[float, float]:
    """``X,Y`` in pixels, or fractions of the frame when both are in [0, 1] with a decimal point."""
    try:
        xs, ys = text.split(",")
        x, y = float(xs), float(ys)
    except ValueError:
        raise InputError(f"--focus-at: expected X,Y (pixels or fractions like 0.5,0.4), got {text!r}") from None
    if "." in text and 0 <= x <= 1 and 0 <= y <= 1:
        x, y = x * (width - 1), y * (height - 1)
    if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
        raise InputError(f"--focus-at: {text} lies outside the {width}x{height} frame")
    return x, y


def depth_under(depth_m: torch.Tensor, x: float, y: float, patch: int = 5) -> float:
    """Median z-depth over a small patch: robust to an edge or a noisy pixel under the point."""
    height, width = depth_m.shape
    col, row = int(round(x)), int(round(y))
    window = depth_m[max(row - patch, 0) : row + patch + 1, max(col - patch, 0) : col + patch + 1]
    return float(window.median())


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

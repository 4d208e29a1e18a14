"""File-level jobs: what a command does, without the command line.

`bokehsim render` is :func:`render_files`: read the picture, read (or estimate) and calibrate its
depth, resolve the focus and the lens, render, write the outputs and the sidecar. The steps that every
image command shares (`render`, `diagnose`, `fix`, `pull`) are functions of their own:
:func:`check_lens_settings` (before any file is read), :func:`load_inputs` (picture, depth, lens),
:func:`write_render_outputs` and :func:`sidecar_parameters`.

Example:
    >>> from bokehsim.jobs import LensSettings
    >>> LensSettings(focal_length_mm=85, f_number=1.8).focus_distance_m is None
    True
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import io, tone
from .aperture import Aperture
from .depth import DepthOptions, DepthResult, check_depth_options, depth_at, load_depth, parse_point
from .errors import InputError
from .lens import Lens, check_lens, sensor_width_mm
from .looks import resolve_aperture, suggested_lens
from .shot import Shot

#: Output extensions written as float (linear) maps.
FLOAT_OUTPUTS = {".exr", ".npy"}
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class LensSettings:
    """The lens as the user gives it, before the picture is read.

    Attributes:
        focal_length_mm: f in mm; None takes the look's suggestion.
        f_number: N; None takes the look's suggestion.
        focus_distance_m: S1 in metres; None focuses on the depth under the depth source's ``focus_at``.
        sensor: a preset name (``full-frame``, ``aps-c`` ...) or a width in mm.
        look: a named look or a look file; ``aperture``/``profile``/``sa_sign`` override its parts.
        shot: the :class:`~bokehsim.shot.Shot` of ``--shot`` (its numbers already fill the fields
            above that were not given); its subject distance focuses the lens when neither
            ``focus_distance_m`` nor a focus point is given.
    """

    focal_length_mm: float | None = None
    f_number: float | None = None
    focus_distance_m: float | None = None
    sensor: str | float = "full-frame"
    look: str | None = None
    aperture: str | None = None
    profile: str | None = None
    sa_sign: int | None = None
    shot: Shot | None = None


@dataclass(frozen=True)
class DepthSource:
    """Where the depth comes from (a file, or ``options.estimate``) and how to calibrate it."""

    path: Path | None = None
    options: DepthOptions = field(default_factory=DepthOptions)


@dataclass(frozen=True)
class CheckedLens:
    """:class:`LensSettings` checked: the numbers filled in from the look, the aperture resolved."""

    focal_length_mm: float
    f_number: float
    sensor_width_mm: float
    aperture: Aperture


@dataclass
class Inputs:
    """A picture with its calibrated depth and the lens focused for it."""

    picture: io.ImageData
    depth: DepthResult
    lens: Lens
    aperture: Aperture
    focus_report: dict


@dataclass
class RenderReport:
    """What :func:`render_files` did: the files written and the numbers worth printing."""

    outputs: list[Path]
    width_px: int
    height_px: int
    focus_distance_m: float
    max_abs_coc_px: float
    layers: int
    elapsed_s: float
    parameters: dict
    warnings: list[str]


def check_lens_settings(lens: LensSettings, depth: DepthSource) -> CheckedLens:
    """Check the lens, focus and depth options before any file is read.

    Raises:
        InputError: a missing -f/-N (and no look suggests it), a bad number, no way to focus,
            contradicting depth options.
    """
    suggested_f, suggested_n = suggested_lens(lens.look)
    focal_length_mm = lens.focal_length_mm if lens.focal_length_mm is not None else suggested_f
    f_number = lens.f_number if lens.f_number is not None else suggested_n
    for value, option in ((focal_length_mm, "--focal-length/-f"), (f_number, "--f-number/-N")):
        if value is None:
            raise InputError(f"{option}: required (or a --look that suggests it)")
    if focus_distance_of(lens, depth) is None and depth.options.focus_at is None:
        raise InputError("focus: give --focus-distance M, --focus-at X,Y or a --shot")
    check_depth_options(depth.options, depth.path)
    sensor_mm = sensor_width_mm(lens.sensor)
    # A focus point is known only once the depth is read; 1 km stands in for it in the early check.
    check_lens(focal_length_mm, f_number, focus_distance_of(lens, depth) or 1000.0, sensor_mm)
    aperture = resolve_aperture(lens.aperture, lens.profile, lens.look, sa_sign=lens.sa_sign)
    return CheckedLens(focal_length_mm, f_number, sensor_mm, aperture)


def focus_distance_of(lens: LensSettings, depth: DepthSource) -> float | None:
    """S1 before the depth is read: --focus-distance, else None where --focus-at picks it, else the
    shot's camera-to-subject distance (explicit options win over the shot)."""
    if lens.focus_distance_m is not None or depth.options.focus_at is not None or lens.shot is None:
        return lens.focus_distance_m
    return lens.shot.camera_to_subject_m


def load_inputs(image: Path, depth: DepthSource, lens: CheckedLens, focus_distance_m: float | None) -> Inputs:
    """Read the picture, read or estimate its depth and calibrate it, and focus the lens.

    Args:
        image: the picture (any format :func:`bokehsim.io.read_image` reads).
        depth: the depth file or estimation, and its calibration.
        lens: from :func:`check_lens_settings`.
        focus_distance_m: S1, or None for the depth under ``depth.options.focus_at``.
    """
    picture = io.read_image(image)
    depth_result = load_depth(depth.path, picture.color, depth.options)
    if focus_distance_m is not None:
        focus_m, focus_report = focus_distance_m, {"distance_m": focus_distance_m}
    else:
        height, width = depth_result.depth_m.shape
        x, y = parse_point(depth.options.focus_at, width, height)
        focus_m, focus_report = depth_at(depth_result.depth_m, x, y), {"at": depth.options.focus_at, "pixel": [x, y]}
    focused = Lens(focal_length_mm=lens.focal_length_mm, f_number=lens.f_number, focus_distance_m=focus_m,
                   sensor_width_mm=lens.sensor_width_mm)
    return Inputs(picture, depth_result, focused, lens.aperture, focus_report)


def render_files(
    image: Path,
    output: Path,
    *,
    lens: LensSettings,
    depth: DepthSource,
    coc_map: Path | None = None,
    hole_matte: Path | None = None,
    bit_depth: int | None = None,
    highlights: bool = True,
    highlight_threshold: float = tone.DEFAULT_HIGHLIGHT_THRESHOLD,
    highlight_gain: float = tone.DEFAULT_HIGHLIGHT_GAIN,
    device: str = "auto",
    deterministic: bool = False,
    tile_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> RenderReport:
    """Do what `bokehsim render` does: every check first, then read, render, write, sidecar.

    Args:
        image: the picture.
        output: the result; its extension picks the format; 8/16-bit outputs default to the
            input's bit depth.
        lens, depth: the lens and the depth source (see :class:`LensSettings`, :class:`DepthSource`).
        coc_map: also write the signed CoC in pixels (float map, or a colour-coded ``.png``).
        hole_matte: also write where hidden background was invented (0..1).
        bit_depth: 8 or 16 for PNG/TIFF outputs.
        highlights, highlight_threshold, highlight_gain: highlight expansion of 8/16-bit inputs.
        device: ``auto``, ``cpu`` or ``cuda``.
        deterministic: bit-identical GPU output from run to run.
        tile_size: render in overlapping tiles of this many pixels.
        progress: ``progress(done, total)`` during the render.
        warn: receives one-line warnings (depth calibration) as they arise.

    Raises:
        InputError: any bad option or input, before any output is written.
    """
    started = time.perf_counter()
    side_outputs = [p for p in (coc_map, hole_matte) if p is not None]
    check_outputs([output, *side_outputs], [image, depth.path])
    check_render_options(bit_depth=bit_depth, device=device, tile_size=tile_size,
                         highlight_threshold=highlight_threshold, highlight_gain=highlight_gain)
    checked = check_lens_settings(lens, depth)

    inputs = load_inputs(image, depth, checked, focus_distance_of(lens, depth))
    for warning in inputs.depth.warnings if warn else []:
        warn(warning)
    clipped = highlights and inputs.picture.transfer == "srgb"
    result = render_inputs(
        inputs, clipped=clipped, threshold=highlight_threshold, gain=highlight_gain,
        hole_matte=hole_matte is not None, device=device, deterministic=deterministic, tile_size=tile_size,
        progress=progress,
    )
    write_render_outputs(result, inputs.picture, output, bit_depth, coc_map, hole_matte)

    parameters = {
        "command": "render", "image": image, "output": output, **sidecar_parameters(lens, depth, inputs),
        "highlights": {"expanded": clipped, "threshold": highlight_threshold, "gain": highlight_gain},
        "bit_depth": bit_depth, "device": device, "deterministic": deterministic, "tile_size": tile_size,
        "layers": result.layers, "max_abs_coc_px": float(result.coc_px.abs().max()), "coc_map": coc_map,
        "hole_matte": hole_matte,
    }
    elapsed = time.perf_counter() - started
    for path in (output, *side_outputs):
        io.write_sidecar(path, parameters, [image] + ([depth.path] if depth.path else []), elapsed)
    height, width = inputs.picture.color.shape[1:]
    return RenderReport(
        outputs=[output, *side_outputs], width_px=width, height_px=height,
        focus_distance_m=inputs.lens.focus_distance_m, max_abs_coc_px=parameters["max_abs_coc_px"],
        layers=result.layers, elapsed_s=elapsed, parameters=parameters, warnings=inputs.depth.warnings,
    )


def check_outputs(outputs: list[Path], inputs: list[Path | None]) -> None:
    """Every output is writable, none is an input, and no two outputs are the same file."""
    for path in outputs:
        io.check_output_path(path, inputs)
    if len({p.resolve() for p in outputs}) != len(outputs):
        raise InputError(f"{outputs[0]}: the outputs ({', '.join(map(str, outputs))}) must be different files")


def check_render_options(
    *, bit_depth: int | None, device: str, tile_size: int | None, highlight_threshold: float, highlight_gain: float
) -> None:
    """Validate the render options that need no file, so a bad one fails before any work."""
    if tile_size is not None and tile_size < 64:
        raise InputError(f"--tile-size: expected at least 64 px, got {tile_size}")
    if bit_depth not in (None, 8, 16):
        raise InputError(f"--bit-depth: expected 8 or 16, got {bit_depth}")
    if device not in DEVICES:
        raise InputError(f"--device: expected one of {', '.join(DEVICES)}, got {device!r}")
    tone.check_curve(highlight_threshold, highlight_gain)


def sidecar_parameters(lens: LensSettings, depth: DepthSource, inputs: Inputs) -> dict:
    """The lens, focus and depth part of a sidecar, shared by every image command."""
    return {
        "depth": depth.path, "focal_length_mm": inputs.lens.focal_length_mm, "f_number": inputs.lens.f_number,
        "focus_distance_m": inputs.lens.focus_distance_m, "focus": inputs.focus_report, "sensor": lens.sensor,
        "sensor_width_mm": inputs.lens.sensor_width_mm, "look": lens.look, "aperture": inputs.aperture.spec,
        "profile": inputs.aperture.profile.spec, "depth_calibration": inputs.depth.report, "shot": lens.shot,
    }


def render_inputs(inputs: Inputs, *, clipped, threshold, gain, hole_matte, device, deterministic, tile_size, progress):
    """render_full, or render_tiled on CUDA / with a tile size, so a picture too large for the GPU's
    memory is rendered in tiles instead of failing."""
    from .render import render_full, resolve_device
    from .tiling import render_tiled

    picture, lens, aperture = inputs.picture, inputs.lens, inputs.aperture
    options = dict(
        aperture=aperture, alpha=picture.alpha, clipped_highlights=clipped, highlight_threshold=threshold,
        highlight_gain=gain, hole_matte=hole_matte, device=device, progress=progress,
    )
    on_cuda = resolve_device(device, picture.color).type == "cuda"
    chromatic = aperture.channel_focus_scale(focal_length_mm=lens.focal_length_mm, focus_distance_m=lens.focus_distance_m)
    if (tile_size is None and not on_cuda) or chromatic is not None:
        return render_full(picture.color, inputs.depth.depth_m, lens, deterministic=deterministic, **options)
    return render_tiled(picture.color, inputs.depth.depth_m, lens, tile_px=tile_size, deterministic=deterministic, **options)


def write_render_outputs(result, picture: io.ImageData, output: Path, bit_depth: int | None,
                         coc_map: Path | None, hole_matte: Path | None) -> None:
    """Write the image (and the optional maps) in the formats their extensions ask for."""
    channels = picture.color.shape[0]
    color = result.image[:channels].cpu()
    alpha = result.image[channels:].cpu() if picture.alpha is not None else None
    suffix = output.suffix.lower()
    float_out = suffix in FLOAT_OUTPUTS or suffix in (".tif", ".tiff") and bit_depth is None and picture.bit_depth == 32
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

"""`bokehsim fix` without the command line: every check, then read, fix, write, sidecar."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from .. import io
from ..diagnosis import diagnose
from ..diagnosis.files import check_picture_size
from ..errors import InputError
from ..jobs import DepthSource, LensSettings, check_lens_settings, check_outputs, load_inputs, sidecar_parameters
from ..jobs import write_render_outputs
from ..tone import linear_to_srgb
from . import check_modes, fix
from .tone import check_black_point

#: A focus point at or beyond this quantile of the depth map is on the farthest thing in view (the
#: sky, a backdrop): a fix would blur the whole subject.
FARTHEST_QUANTILE = 0.98


@dataclass
class FixReport:
    """What :func:`fix_files` wrote and the numbers worth printing."""

    outputs: list[Path]
    width_px: int
    height_px: int
    protected_fraction: float
    reblurred_fraction: float
    elapsed_s: float
    parameters: dict


def fix_files(
    image: Path,
    output: Path,
    *,
    lens: LensSettings,
    depth: DepthSource,
    subject_mask: Path | None = None,
    existing_blur: Path | None = None,
    tone: str = "auto",
    black_point: float | None = None,
    rims: str = "auto",
    grain: str = "auto",
    hierarchy: str = "auto",
    compare: Path | None = None,
    changes: Path | None = None,
    report: Path | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> FixReport:
    """Do what `bokehsim fix` does (see :func:`bokehsim.repair.fix`).

    Args:
        image: the picture; the output has its format's bit depth (8/16-bit, float) and its alpha.
        output: the fixed picture.
        lens, depth: as for ``render``.
        subject_mask: a picture the size of ``image``, white where the subject must not change.
        existing_blur: a float map (px) of the CoC the picture already shows; without it the blur is
            measured by ``diagnose``'s defocus estimate.
        tone, black_point, rims, grain, hierarchy: the steps of :func:`bokehsim.repair.fix`.
        compare: also write before | after side by side (PNG).
        changes: also write a heat map of what changed (PNG).
        report: also write ``diagnose``'s report of the picture before and after the fix (JSON).
        seed: the synthesised grain's seed.
        progress, warn: callbacks as for ``render``.

    Raises:
        InputError: any bad option or input, before any output is written.
    """
    started = time.perf_counter()
    side = [p for p in (compare, changes) if p is not None]
    check_outputs([output, *side], [image, depth.path, subject_mask, existing_blur])
    check_report_path(report, [output, *side, image, depth.path, subject_mask, existing_blur])
    check_modes(tone=tone, rims=rims, grain=grain, hierarchy=hierarchy)
    check_black_point(black_point)
    if seed < 0:
        raise InputError(f"--seed: expected an integer >= 0, got {seed}")
    for path in side:
        if path.suffix.lower() != ".png":
            raise InputError(f"{path}: expected a .png file for --compare/--changes, got {path.suffix or 'no extension'}")
    checked = check_lens_settings(lens, depth)
    inputs = load_inputs(image, depth, checked, lens.focus_distance_m)
    check_picture_size(inputs.picture.color, image)
    for warning in inputs.depth.warnings:
        (warn or (lambda _: None))(warning)
    picture, depth_m = inputs.picture, inputs.depth.depth_m
    check_focus_not_farthest(depth_m, inputs.lens.focus_distance_m, depth.options.focus_at)
    mask = read_mask(subject_mask, picture.color.shape[1:], image)
    blur = read_existing_blur(existing_blur, picture.color.shape[1:], image)

    result = fix(picture.color, depth_m, inputs.lens, existing_blur_px=blur, aperture=inputs.aperture,
                 alpha=picture.alpha, subject=mask, tone=tone, black_point=black_point,
                 encoded=picture.transfer == "srgb", rims=rims, grain=grain, hierarchy=hierarchy, seed=seed, progress=progress)
    # diagnose runs before anything is written, so a failure there leaves no half set of outputs.
    reports = diagnose_reports(picture.color, result.image, depth_m, inputs.lens) if report is not None else None
    rendered = result.image if result.alpha is None else torch.cat([result.image, result.alpha])
    write_render_outputs(SimpleNamespace(image=rendered), picture, output, None, None, None)
    if compare is not None:
        io.write_preview_png(compare, np.concatenate([preview(picture.color), preview(result.image)], axis=1))
    if changes is not None:
        io.write_preview_png(changes, change_heat_map(picture.color, result.image))
    if report is not None:
        with io.atomic_output(report) as tmp:
            tmp.write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")

    parameters = {
        "command": "fix", "image": image, "output": output, **sidecar_parameters(lens, depth, inputs),
        "subject_mask": subject_mask, "existing_blur": existing_blur, "tone_mode": tone, "rims_mode": rims, "grain_mode": grain,
        "hierarchy_mode": hierarchy, "seed": seed, "protected_fraction": float(result.protected.float().mean()),
        "decisions": result.decisions, "compare": compare, "changes": changes, "report": report,
    }
    elapsed = time.perf_counter() - started
    for path in (output, *side):
        io.write_sidecar(path, parameters, [image, depth.path, subject_mask, existing_blur], elapsed)
    height, width = picture.color.shape[1:]
    reblurred = result.decisions["blur"].get("missing_coc_px", {}).get("fraction_reblurred", 0.0)
    return FixReport([output, *side] + ([report] if report else []), width, height, parameters["protected_fraction"], reblurred, elapsed, parameters)


def check_report_path(report: Path | None, others: list[Path | None]) -> None:
    """A ``--report`` is a ``.json`` file in a writable folder, and none of the other files."""
    if report is None:
        return
    if report.suffix.lower() != ".json":
        raise InputError(f"{report}: expected a .json file for --report, got {report.suffix or 'no extension'}")
    if not report.parent.is_dir() or not os.access(report.parent, os.W_OK):
        raise InputError(f"{report}: expected a writable folder '{report.parent}' for --report")
    if any(other is not None and os.path.realpath(other) == os.path.realpath(report) for other in others):
        raise InputError(f"{report}: --report must be a file of its own, not an input or another output")


def diagnose_reports(before: torch.Tensor, after: torch.Tensor, depth_m: torch.Tensor, lens) -> dict:
    """``{"before": diagnose report, "after": diagnose report}`` as JSON-ready dicts."""
    return {name: diagnose(image, depth_m, lens).to_dict() for name, image in (("before", before), ("after", after))}


def check_focus_not_farthest(depth_m: torch.Tensor, focus_distance_m: float, focus_at: str | None) -> None:
    """Raise when the focus lands on the farthest thing in view while the scene has nearer parts."""
    farthest = float(torch.quantile(depth_m.flatten()[:: max(1, depth_m.numel() // 1_000_000)], FARTHEST_QUANTILE))
    nearest = float(depth_m.min())
    if focus_distance_m >= farthest and farthest > 2.0 * nearest:
        where = f"--focus-at {focus_at}" if focus_at else f"--focus-distance {focus_distance_m:g}"
        raise InputError(f"{where}: expected a focus on the subject, got the farthest depth in view "
                         f"({focus_distance_m:.3g} m, the sky or backdrop); fix would blur everything nearer")


def read_mask(path: Path | None, size: tuple[int, int], image: Path) -> torch.Tensor | None:
    """A subject mask file as ``(H, W)`` bool (white = protect), checked against the picture's size."""
    if path is None:
        return None
    mask = io.read_image(path)
    _check_size(path, tuple(mask.color.shape[1:]), size, image)
    values = mask.color.mean(0) if mask.alpha is None else mask.alpha[0]
    return values > 0.5


def read_existing_blur(path: Path | None, size: tuple[int, int], image: Path) -> torch.Tensor | None:
    """An existing-blur float map (CoC px, >= 0, finite), checked against the picture's size."""
    if path is None:
        return None
    raw = io.read_depth_raw(path)
    if not raw.is_float:
        raise InputError(f"{path}: expected a float map of CoC in px (.npy, .exr, float .tif), got a {raw.bit_depth}-bit image")
    _check_size(path, tuple(raw.values.shape), size, image)
    values = raw.values
    if not bool(torch.isfinite(values).all()) or float(values.min()) < 0:
        raise InputError(f"{path}: expected finite CoC values >= 0 px, got min {float(values.min()):g}")
    return values


def _check_size(path: Path, got: tuple[int, int], size: tuple[int, int], image: Path) -> None:
    if got != tuple(size):
        raise InputError(f"{path}: expected {size[1]}x{size[0]} px like {image}, got {got[1]}x{got[0]}")


def preview(linear: torch.Tensor) -> np.ndarray:
    """``(H, W, 3)`` uint8 sRGB of a linear ``(C, H, W)`` picture (grey repeated to RGB)."""
    colour = linear.expand(3, -1, -1) if linear.shape[0] == 1 else linear[:3]
    return (linear_to_srgb(colour) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def change_heat_map(before: torch.Tensor, after: torch.Tensor) -> np.ndarray:
    """What changed, as the eye sees it: the largest sRGB change per pixel, black (none) through red
    to yellow (a quarter of full scale or more)."""
    change = (linear_to_srgb(after) - linear_to_srgb(before)).abs().amax(0)
    heat = (change / 0.25).clamp(0, 1)
    colour = torch.stack([(heat * 2).clamp(max=1), (heat * 2 - 1).clamp(min=0), torch.zeros_like(heat)], -1)
    return (colour * 255).round().to(torch.uint8).numpy()

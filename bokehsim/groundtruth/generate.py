"""Render one scene into its output folder: the library function under ``bokehsim groundtruth``.

``OUT/<scene>/`` receives ``depth.exr``, ``pinhole.exr``, ``reference.exr`` (``.npy`` copies with
``npy``), ``scene.json`` and last the sidecar ``reference.exr.json``. Every file is written atomically
and the sidecar is the completion mark, so an interrupted run resumes where it stopped: a scene
whose sidecar records the same settings and scene file is skipped unless ``force``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import io
from ..aperture import Aperture
from ..errors import InputError
from ..lens import coc_px
from ._mitsuba import mitsuba
from .builder import NEAR_CLIP_M, aperture_radius_m, scene_dict
from .depth import SKY_DEPTH_M, render_z_depth
from .looks import is_plain_circle
from .renderers import noise_psnr_db, pass_count, reference_pass_count, render_pinhole, render_reference
from .scene import Scene, Shot

METHODS = ("auto", "thinlens", "accumulation")
SIDECAR = "reference.exr.json"
#: Called with (stage, ticks done since the last call) while a scene renders.
Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Settings:
    """What the command line may change about the scene files' own shot.

    Attributes:
        width_px: output width; the height follows the scene's aspect ratio. None = the scene's.
        spp: samples per pixel of the pinhole and of the reference. None = the scene's.
        look: aperture look of the reference. None = the scene's.
        look_source: the look as the user wrote it (recorded in scene.json); default ``look.spec``.
        method: ``auto`` (thin lens for the circle, accumulation otherwise), ``thinlens`` or
            ``accumulation`` (any look; used to validate the accumulation against the thin lens).
        npy: also write ``.npy`` copies.
        force: render again even when the folder holds a finished render.
    """

    width_px: int | None = None
    spp: int | None = None
    look: Aperture | None = None
    look_source: str | None = None
    method: str = "auto"
    npy: bool = False
    force: bool = False


def effective_shot(scene: Scene, settings: Settings) -> Shot:
    """The scene's shot with the settings' overrides applied."""
    shot = scene.shot
    if settings.width_px is not None:
        height_px = max(1, round(settings.width_px * shot.height_px / shot.width_px))
        shot = dataclasses.replace(shot, width_px=settings.width_px, height_px=height_px)
    if settings.spp is not None:
        shot = dataclasses.replace(shot, spp=settings.spp)
    if settings.look is not None:
        shot = dataclasses.replace(shot, look=settings.look, look_source=settings.look_source or settings.look.spec)
    return shot


def reference_method(shot: Shot, method: str) -> str:
    """``thinlens`` or ``accumulation`` for a shot; raises InputError for thinlens + a non-circle."""
    if method == "auto":
        return "thinlens" if is_plain_circle(shot.look) else "accumulation"
    if method == "thinlens" and not is_plain_circle(shot.look):
        raise InputError(f"--method thinlens: Mitsuba's thin lens renders the circle look only, got {shot.look.spec}")
    return method


def output_folder(scene: Scene, out_root: Path) -> Path:
    return Path(out_root) / scene.name


def planned_ticks(scene: Scene, settings: Settings) -> int:
    """Progress ticks :func:`generate` will report for a scene (for a progress bar's total)."""
    shot = effective_shot(scene, settings)
    return 3 + pass_count(shot, shot.spp) + reference_pass_count(shot, reference_method(shot, settings.method))


def _settings_record(scene: Scene, shot: Shot, settings: Settings) -> dict:
    return {"width_px": shot.width_px, "height_px": shot.height_px, "spp": shot.spp, "look": shot.look_source,
            "method": reference_method(shot, settings.method), "npy": settings.npy}


def is_done(scene: Scene, out_root: Path, settings: Settings) -> bool:
    """True when the folder holds a finished render of this scene file with these settings.

    Raises:
        InputError: it holds a finished render with *other* settings or of an edited scene file,
            and ``force`` is off (re-rendering silently would discard it; skipping would mislead).
    """
    folder = output_folder(scene, out_root)
    sidecar = folder / SIDECAR
    if settings.force or not sidecar.is_file():
        return False
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        old_settings, old_inputs = record["parameters"]["settings"], record["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return False  # unreadable mark: treat as unfinished
    wanted = _settings_record(scene, effective_shot(scene, settings), settings)
    same_scene = bool(old_inputs) and old_inputs[0].get("sha256") == io.file_sha256(scene.path)
    if old_settings != wanted or not same_scene:
        what = "other settings" if old_settings != wanted else "an earlier version of the scene file"
        raise InputError(f"{folder}: already rendered with {what}; pass --force to render it again, or use another -o")
    missing = [name for name in _file_names(settings.npy) if not (folder / name).is_file()]
    return not missing


def _file_names(npy: bool) -> list[str]:
    names = ["depth.exr", "pinhole.exr", "reference.exr", "scene.json"]
    return names + (["depth.npy", "pinhole.npy", "reference.npy"] if npy else [])


def generate(scene: Scene, out_root: str | Path, settings: Settings = Settings(), *,
             progress: Progress | None = None) -> Path:
    """Render a scene's depth map, pinhole image and depth-of-field reference into ``OUT/<scene>/``.

    Args:
        scene: a loaded scene (:func:`~bokehsim.groundtruth.scene.load_scene`).
        out_root: the output root; the scene's folder is created inside it.
        settings: command-line overrides and options.
        progress: called as ``progress(stage, ticks)``; :func:`planned_ticks` is the total.

    Returns:
        The scene's output folder.

    Raises:
        InputError: Mitsuba missing, a finished render with other settings (see :func:`is_done`),
            or an unwritable output folder.
    """
    tick = progress or (lambda stage, ticks: None)
    folder = output_folder(scene, out_root)
    if is_done(scene, out_root, settings):
        tick("done (already rendered)", planned_ticks(scene, settings))
        return folder
    shot = effective_shot(scene, settings)
    method = reference_method(shot, settings.method)
    mi = mitsuba()
    start = time.perf_counter()
    mi_scene = mi.load_dict(scene_dict(mi, dataclasses.replace(scene, shot=shot)))
    tick("depth", 1)
    depth_start = time.perf_counter()
    depth_m = render_z_depth(mi, mi_scene, mi_scene.sensors()[0], shot.width_px, shot.height_px, NEAR_CLIP_M)
    depth_s = time.perf_counter() - depth_start
    tick("pinhole", 1)
    pinhole, pinhole_s = render_pinhole(mi, mi_scene, shot, lambda: tick("pinhole", 1))
    reference = render_reference(mi, mi_scene, shot, method, lambda: tick(f"reference ({method})", 1))
    tick("writing", 0)
    _make_folder(folder)
    bad_samples = _write_images(folder, depth_m, pinhole, reference.image, settings.npy)
    _write_scene_json(folder / "scene.json", scene, shot, method, depth_m)
    between_db, estimate_db = noise_psnr_db(reference.halves)
    total_s = time.perf_counter() - start
    parameters = {
        "settings": _settings_record(scene, shot, settings),
        "render_time_s": {"depth": depth_s, "pinhole": pinhole_s, "reference": reference.seconds, "total": total_s},
        "samples_per_pixel": {"pinhole": shot.spp, "reference": shot.spp,
                              "reference_halves": [shot.spp // 2, shot.spp - shot.spp // 2]},
        "noise": {
            "psnr_between_halves_db": between_db,
            "reference_psnr_estimate_db": estimate_db,
            "about": "PSNR on sRGB-encoded images (clipped to [0, 1]) between two independent halves of the "
                     "reference's samples; the estimate for the full reference is 6.02 dB higher",
        },
        "non_finite_samples_zeroed": bad_samples,
        "mitsuba": {"version": mi.__version__, "variant": mi.variant()},
    }
    io.write_sidecar(folder / "reference.exr", parameters, [scene.path], total_s)
    tick("done", 1)
    return folder


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"{folder}: cannot create output folder ({error.strerror or error})") from None


def _write_images(folder: Path, depth_m: np.ndarray, pinhole: np.ndarray, reference: np.ndarray, npy: bool) -> int:
    """Write the three images (and .npy copies); returns how many NaN/inf samples were zeroed."""
    bad = int((~np.isfinite(pinhole)).sum() + (~np.isfinite(reference)).sum())
    images = {"pinhole": np.nan_to_num(pinhole, nan=0.0, posinf=0.0), "reference": np.nan_to_num(reference, nan=0.0, posinf=0.0)}
    io.write_float_map(folder / "depth.exr", depth_m)
    if npy:
        io.write_float_map(folder / "depth.npy", depth_m)
    for name, image in images.items():
        color = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        for ext in (".exr", ".npy") if npy else (".exr",):
            io.write_image(folder / f"{name}{ext}", color, bit_depth=32, transfer="linear")
    return bad


def scene_record(scene: Scene, shot: Shot, method: str, depth_m: np.ndarray) -> dict:
    """The shot and render settings as written to ``scene.json`` (what a benchmark needs)."""
    coc = coc_px(torch.from_numpy(depth_m.astype(np.float64)), focal_length_mm=shot.focal_length_mm,
                 f_number=shot.f_number, focus_distance_m=shot.focus_distance_m,
                 sensor_width_mm=shot.sensor_width_mm, image_width_px=shot.width_px)
    f_m = shot.focal_length_mm / 1000.0
    return {
        "scene": scene.name,
        "title": scene.title,
        "description": scene.description,
        "source": str(scene.path),
        "lens": {"focal_length_mm": shot.focal_length_mm, "f_number": shot.f_number,
                 "focus_distance_m": shot.focus_distance_m, "sensor_width_mm": shot.sensor_width_mm},
        "image": {"width_px": shot.width_px, "height_px": shot.height_px, "fov_x_deg": shot.fov_x_deg},
        "look": shot.look.spec,
        "look_source": shot.look_source,
        "samples_per_pixel": shot.spp,
        "max_path_depth": shot.max_depth,
        "reference": {
            "method": method,
            "aperture_radius_m": aperture_radius_m(shot),
            "aperture_radius_scale": shot.focus_distance_m / (shot.focus_distance_m - f_m),
            "why_scaled": "Mitsuba's thin lens keeps the pinhole field of view; R = f/(2N) * S1/(S1 - f) makes "
                          "its blur equal CONVENTIONS' c(S2) in pixels",
        },
        "depth": {"kind": "z-depth along the optical axis at pixel centres, metres",
                  "min_m": float(depth_m.min()), "max_m": float(depth_m.max()),
                  "sky_depth_m": SKY_DEPTH_M, "sky_pixels": int((depth_m >= SKY_DEPTH_M).sum())},
        "coc_px": {"min": float(coc.min()), "max": float(coc.max()), "max_abs": float(coc.abs().max())},
        "files": {"pinhole": "pinhole.exr", "depth": "depth.exr", "reference": "reference.exr"},
    }


def _write_scene_json(path: Path, scene: Scene, shot: Shot, method: str, depth_m: np.ndarray) -> None:
    text = json.dumps(scene_record(scene, shot, method, depth_m), indent=2, allow_nan=False) + "\n"
    try:
        with io.atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot write file ({error.strerror or error})") from None


def check_out_root(out_root: Path) -> None:
    """Refuse an output root that is a file or cannot be created/written. Call before rendering."""
    out_root = Path(out_root)
    if out_root.exists() and not out_root.is_dir():
        raise InputError(f"{out_root}: -o must be a folder, got a file")
    parent = out_root if out_root.exists() else next((p for p in out_root.parents if p.exists()), Path("."))
    if not os.access(parent, os.W_OK):
        raise InputError(f"{out_root}: output folder is not writable")

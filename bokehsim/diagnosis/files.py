"""File-level diagnose jobs: what `bokehsim diagnose` does, without the command line.

:func:`diagnose_file` reads one picture and its depth (file or estimate, calibrated as for `render`),
diagnoses it and writes the asked-for report, overlay and physically rendered reference;
:func:`diagnose_folder` does every picture of a folder and writes one CSV row per picture.
"""

from __future__ import annotations

import csv
import io as text_io
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .. import io
from ..errors import InputError
from ..jobs import DepthSource, LensSettings, check_lens_settings, check_outputs, load_inputs, sidecar_parameters
from ..lens import Lens
from ..render import render_full
from .defocus import MIN_SIDE_PX
from .diagnose import diagnose
from .overlay import draw_overlay
from .report import Report
from .signs import SIGN_NAMES

#: Extensions of the pictures a folder batch diagnoses.
PICTURE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".npy")


@dataclass(frozen=True)
class DiagnoseOutputs:
    """Where one picture's results go (None: not written)."""

    json: Path | None = None
    overlay: Path | None = None
    reference: Path | None = None


def check_data_output(path: Path, suffix: str, inputs: list[Path | None]) -> None:
    """A ``.json``/``.csv`` output: right extension, writable folder, not a folder, not an input."""
    option = f"--{suffix.lstrip('.')}"
    if path.suffix.lower() != suffix:
        raise InputError(f"{option} {path}: expected a {suffix} file, got '{path.suffix or 'no extension'}'")
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise InputError(f"{option} {path}: output folder '{path.parent}' does not exist or is not writable")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; expected a file name")
    for source in inputs:
        if source is not None and path.exists() and os.path.samefile(path, source):
            raise InputError(f"{option} {path}: would overwrite the input file '{source}'")


def check_picture_size(colour: torch.Tensor, image: Path) -> None:
    """One line naming the picture when it is too small to read its blur from (``(C, H, W)``)."""
    height, width = colour.shape[-2:]
    if min(height, width) < MIN_SIDE_PX:
        raise InputError(f"{image}: expected at least {MIN_SIDE_PX}x{MIN_SIDE_PX} px, got {width}x{height}")


def diagnose_file(
    image: Path,
    *,
    lens: LensSettings,
    depth: DepthSource,
    outputs: DiagnoseOutputs = DiagnoseOutputs(),
    warn: Callable[[str], None] | None = None,
) -> tuple[Report, dict]:
    """Do what `bokehsim diagnose IMAGE` does: every check first, then read, diagnose, write.

    Without ``lens.f_number`` the f-number is fitted (``report.implied_f_number``); a look's
    suggested f-number is not used, since the point is to find the one the picture shows.

    Returns:
        The report and the parameters used (as written to the JSON and the sidecars).

    Raises:
        InputError: any bad option or input (no depth and no estimation, sizes that differ, no
            in-focus region at the focus distance), before any output is written.
    """
    started = time.perf_counter()
    check_outputs([p for p in (outputs.overlay, outputs.reference) if p is not None], [image, depth.path])
    if outputs.json is not None:
        check_data_output(outputs.json, ".json", [image, depth.path])
    if outputs.overlay is not None and outputs.overlay.suffix.lower() != ".png":
        raise InputError(f"--overlay {outputs.overlay}: expected a .png file, got '{outputs.overlay.suffix or 'no extension'}'")
    f_number_known = lens.f_number is not None
    # The lens checks need some f-number; a fitted one replaces this stand-in later.
    checked = check_lens_settings(lens if f_number_known else replace(lens, f_number=1.0), depth)
    inputs = load_inputs(image, depth, checked, lens.focus_distance_m)
    check_picture_size(inputs.picture.color, image)
    for warning in inputs.depth.warnings:
        (warn or (lambda _: None))(warning)
    colour = inputs.picture.color.expand(3, -1, -1) if inputs.picture.color.shape[0] == 1 else inputs.picture.color
    shot = inputs.lens
    report = diagnose(colour, inputs.depth.depth_m, shot if f_number_known else None,
                      focal_length_mm=shot.focal_length_mm, focus_distance_m=shot.focus_distance_m,
                      sensor_width_mm=shot.sensor_width_mm)
    parameters = {"command": "diagnose", "image": image, **sidecar_parameters(lens, depth, inputs),
                  "f_number": lens.f_number, "implied_f_number": report.implied_f_number,
                  "json": outputs.json, "overlay": outputs.overlay, "reference": outputs.reference}
    _write_outputs(report, inputs, colour, outputs, parameters)
    elapsed = time.perf_counter() - started
    for path in (outputs.overlay, outputs.reference):
        if path is not None:
            io.write_sidecar(path, parameters, [image] + ([depth.path] if depth.path else []), elapsed)
    return report, parameters


def _write_outputs(report: Report, inputs, colour: torch.Tensor, outputs: DiagnoseOutputs, parameters: dict) -> None:
    if outputs.json is not None:
        record = {**report.to_dict(), "parameters": json.loads(json.dumps(parameters, default=str))}
        with io.atomic_output(outputs.json) as tmp:
            tmp.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    if outputs.overlay is not None:
        io.write_preview_png(outputs.overlay, draw_overlay(colour, report))
    if outputs.reference is not None:
        lens = Lens(focal_length_mm=inputs.lens.focal_length_mm, f_number=report.f_number,
                    focus_distance_m=inputs.lens.focus_distance_m, sensor_width_mm=inputs.lens.sensor_width_mm)
        physical = render_full(inputs.picture.color, inputs.depth.depth_m, lens, aperture=inputs.aperture,
                               clipped_highlights=inputs.picture.transfer == "srgb").image.cpu()
        # The picture (left) and what bokehsim renders from it for the same shot (right).
        side_by_side = torch.cat([inputs.picture.color, physical], dim=2).clamp(0, 1)
        io.write_image(outputs.reference, side_by_side, bit_depth=8, transfer="srgb")


def pictures_in(folder: Path) -> list[Path]:
    """The pictures of a folder, sorted by name (hidden files and sidecars skipped)."""
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() in PICTURE_EXTENSIONS and not p.name.startswith("."))


def depth_for(picture: Path, depth: DepthSource) -> DepthSource:
    """One picture's depth source in a batch: the estimate, or the file of the same stem in --depth's folder."""
    if depth.path is None:
        return depth
    matches = [p for p in pictures_in(depth.path) if p.stem == picture.stem]
    if not matches:
        raise InputError(f"--depth {depth.path}: no depth map named {picture.stem}.* for {picture.name}")
    return replace(depth, path=matches[0])


def diagnose_folder(
    folder: Path,
    csv_path: Path,
    *,
    lens: LensSettings,
    depth: DepthSource,
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[dict]:
    """Do what `bokehsim diagnose FOLDER --csv summary.csv` does: one CSV row per picture.

    ``depth.path``, when given, is a folder of depth maps named like the pictures. A picture that
    cannot be diagnosed (bad depth, no in-focus region ...) gets a row with its error and the
    batch goes on.

    Returns:
        The rows written: ``file, score, implied_f_number, <sign severities>, primary, error``.

    Raises:
        InputError: bad options, an empty folder, or a --depth that is not a folder; before any work.
    """
    check_data_output(csv_path, ".csv", [])
    if depth.path is not None and not depth.path.is_dir():
        raise InputError(f"--depth {depth.path}: with a folder of pictures, expected a folder of depth maps named like them")
    check_lens_settings(lens if lens.f_number is not None else replace(lens, f_number=1.0), depth)
    pictures = pictures_in(folder)
    if not pictures:
        raise InputError(f"{folder}: no pictures ({', '.join(PICTURE_EXTENSIONS)}) in this folder")
    rows = []
    for done, picture in enumerate(pictures):
        try:
            report, _ = diagnose_file(picture, lens=lens, depth=depth_for(picture, depth), warn=warn)
            rows.append(csv_row(picture, report))
        except InputError as error:
            rows.append({"file": picture.name, "error": str(error)})
        if progress is not None:
            progress(done + 1, len(pictures))
    with io.atomic_output(csv_path) as tmp:
        tmp.write_text(csv_text(rows), encoding="utf-8")
    return rows


def csv_row(picture: Path, report: Report) -> dict:
    """One batch row: file, score, implied f-number, each sign's severity, primary."""
    return {"file": picture.name, "score": round(report.score, 1),
            "implied_f_number": "" if report.implied_f_number is None else round(report.implied_f_number, 2),
            **{sign.sign: round(sign.severity, 3) for sign in report.signs},
            "primary": report.primary or "", "error": ""}


def csv_text(rows: list[dict]) -> str:
    """The batch CSV, columns in a fixed order."""
    columns = ["file", "score", "implied_f_number", *SIGN_NAMES, "primary", "error"]
    buffer = text_io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()

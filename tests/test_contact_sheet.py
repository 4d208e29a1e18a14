"""Tests for bokehsim.contact_sheet and `bokehsim kernels`: the sheet is rendered, then measured."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from bokehsim import tone
from bokehsim.aperture import parse_aperture
from bokehsim.cli import app
from bokehsim.contact_sheet import EXPOSURE, contact_sheet, light_positions

SIZE = (201, 151)  # (W, H) of each tile: small, so the whole file runs in seconds


def _kernel_mask(tile: np.ndarray, x: int, y: int, reach: int) -> tuple[np.ndarray, int, int]:
    """Pixels of the kernel around light (x, y) above half its local maximum, and the crop origin."""
    x0, y0 = max(x - reach, 0), max(y - reach, 0)
    crop = tile[y0 : y + reach + 1, x0 : x + reach + 1]
    return crop > 0.5 * crop.max(), x0, y0


def _axes(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Centroid (x, y) in the crop, aspect ratio and the screen angle (deg, [0, 180)) of the major axis."""
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean(), ys.mean()
    cov = np.cov(np.stack([xs - cx, ys - cy]))
    values, vectors = np.linalg.eigh(cov)
    major = vectors[:, 1]
    return cx, cy, math.sqrt(values[1] / values[0]), math.degrees(math.atan2(-major[1], major[0])) % 180.0


def _difference(a: float, b: float, period: float = 180.0) -> float:
    d = (a - b) % period
    return min(d, period - d)


@pytest.fixture(scope="module")
def cat_eye_sheet(tmp_path_factory):
    out = tmp_path_factory.mktemp("sheet") / "sheet.png"
    result = CliRunner().invoke(app, [
        "kernels", "--aperture", "cat-eye:strength=0.6", "-o", str(out), "--size", f"{SIZE[0]}x{SIZE[1]}",
        "--grid", "3x3", "--coc=-24,24", "-f", "50", "-N", "1.4", "--focus-distance", "0.3", "--device", "cpu",
    ])
    assert result.exit_code == 0, result.output
    codes = np.asarray(Image.open(out).convert("RGB"), dtype=np.float64) / 255.0
    linear = tone.srgb_to_linear(torch.tensor(codes)).numpy()[..., 1] / EXPOSURE
    legend = json.loads((out.parent / "sheet.png.json").read_text())["parameters"]
    return linear, legend


def test_sheet_and_legend_describe_the_tiles(cat_eye_sheet):
    linear, legend = cat_eye_sheet
    assert [tile["coc_px"] for tile in legend["tiles"]] == [-24.0, 24.0]
    assert [tile["side"] for tile in legend["tiles"]] == ["in front of focus", "behind focus"]
    assert legend["aperture"] == "cat-eye:strength=0.6" and legend["frame"] == list(SIZE)
    assert len(legend["lights"]) == 9
    # The lens numbers turn the CoC into distances: in front nearer than 0.3 m, behind farther.
    assert legend["tiles"][0]["distance_m"] < 0.3 < legend["tiles"][1]["distance_m"]
    left, top, right, bottom = legend["tiles"][1]["box"]
    assert (right - left, bottom - top) == SIZE
    assert linear.shape[1] >= right and linear.shape[0] >= bottom


def test_centre_kernel_diameter_matches_the_coc(cat_eye_sheet):
    linear, legend = cat_eye_sheet
    for tile in legend["tiles"]:
        left, top, right, bottom = tile["box"]
        frame = linear[top:bottom, left:right]
        centre = min(legend["lights"], key=lambda light: light["rho"])
        assert centre["rho"] < 0.01
        mask, _, _ = _kernel_mask(frame, centre["x"], centre["y"], 16)
        diameter = 2.0 * math.sqrt(mask.sum() / math.pi)
        assert diameter == pytest.approx(abs(tile["coc_px"]), rel=0.04)
        _, _, aspect, _ = _axes(mask)
        assert aspect < 1.05  # round at the centre of the frame


def test_corner_kernel_of_a_cat_eye_is_elongated_tangentially(cat_eye_sheet):
    linear, legend = cat_eye_sheet
    width, height = legend["frame"]
    corners = [light for light in legend["lights"] if light["rho"] == max(l["rho"] for l in legend["lights"])]
    assert len(corners) == 4
    shifts = {}
    for tile in legend["tiles"]:
        left, top, right, bottom = tile["box"]
        frame = linear[top:bottom, left:right]
        for light in corners:
            mask, x0, y0 = _kernel_mask(frame, light["x"], light["y"], 16)
            cx, cy, aspect, angle = _axes(mask)
            radial = math.degrees(math.atan2(-(light["y"] - (height - 1) / 2), light["x"] - (width - 1) / 2))
            assert aspect > 1.25
            assert _difference(angle, radial + 90.0) < 5.0
            # On both sides of focus the cat-eye is centred on its light (docs/apertures.md).
            outward = ((x0 + cx - light["x"]) * math.cos(math.radians(radial)) - (y0 + cy - light["y"]) * math.sin(math.radians(radial)))
            shifts.setdefault(tile["side"], []).append(outward)
    assert max(abs(shift) for side in shifts.values() for shift in side) < 0.5
    assert set(shifts) == {"behind focus", "in front of focus"}


def test_in_front_of_focus_the_sheet_shows_the_flipped_kernel():
    aperture = parse_aperture("blades:n=3")
    sheet = contact_sheet(aperture, width=101, height=81, columns=1, rows=1, coc_px=[-30, 30], device="cpu")
    tiles = sheet.legend["tiles"]
    crops = []
    for tile in tiles:
        left, top, right, bottom = tile["box"]
        frame = sheet.image[1, top:bottom, left:right]
        light = sheet.legend["lights"][0]
        crops.append(frame[light["y"] - 17 : light["y"] + 18, light["x"] - 17 : light["x"] + 18])
    front, behind = crops
    assert torch.allclose(front, torch.rot90(behind, 2), atol=1e-4)
    # Behind focus the triangle points up: its top rows are narrower than its bottom rows.
    widths = (behind > 0.5 * EXPOSURE).sum(dim=1)
    rows = torch.nonzero(widths).flatten()
    assert widths[rows[2]] < widths[rows[-3]]


def test_light_grid_spans_centre_to_corners():
    positions = light_positions(201, 151, 3, 3, 20)
    assert positions[4] == (100, 75) and positions[0] == (20, 20) and positions[8] == (180, 130)


@pytest.mark.parametrize("args,message", [
    (["--size", "20x"], "--size: expected AxB"),
    (["--look", "nope"], "--look: unknown look 'nope'"),
    (["--aperture", "blades:n=40"], r"--aperture: n: expected an integer in [3, 16], got 40"),
    (["--grid", "9x9", "--size", "101x81"], "--grid: 9x9 lights"),
    (["--coc", "a,b"], "--coc: expected comma-separated"),
])
def test_bad_options_exit_2_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "sheet.png"
    result = CliRunner().invoke(app, ["kernels", "-o", str(out), *args])
    assert result.exit_code == 2
    assert message in result.output.replace("\n", " ")
    assert not out.exists() and not (tmp_path / "sheet.png.json").exists()

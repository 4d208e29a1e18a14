"""`bokehsim render` through the real typer app: outputs, sidecars, and every bad-input case."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bokehsim import io
from bokehsim.cli import app

runner = CliRunner()
LENS_ARGS = ["-f", "85", "-N", "1.8"]


@pytest.fixture()
def shot(tmp_path):
    """A 48 x 64 RGB-D pair: subject at 2 m on the left, wall at 6 m on the right."""
    rng = np.random.default_rng(1)
    image = tmp_path / "in.png"
    pixels = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    io.write_image(image, _linear(pixels), bit_depth=8, transfer="srgb")
    depth = np.full((48, 64), 6.0, dtype=np.float32)
    depth[:, :32] = 2.0
    np.save(tmp_path / "depth.npy", depth)
    return tmp_path, image, tmp_path / "depth.npy"


def _linear(pixels):
    import torch

    from bokehsim.tone import srgb_to_linear

    return srgb_to_linear(torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_render_writes_image_maps_and_sidecar(shot):
    folder, image, depth = shot
    out, coc_png, coc_npy, matte = (folder / n for n in ("out.png", "coc.png", "coc.npy", "matte.png"))
    result = run("render", image, "--depth", depth, *LENS_ARGS, "--focus-distance", 2, "-o", out,
                 "--coc-map", coc_npy, "--hole-matte", matte)
    assert result.exit_code == 0, result.output
    rendered = io.read_image(out)
    assert rendered.bit_depth == 8 and rendered.color.shape == (3, 48, 64)
    coc = np.load(coc_npy)
    assert coc.shape == (48, 64) and abs(coc[0, 0]) < 1e-6 and coc[0, -1] > 1
    assert matte.exists()
    sidecar = json.loads((folder / "out.png.json").read_text())
    assert sidecar["parameters"]["focal_length_mm"] == 85.0
    assert sidecar["parameters"]["focus_distance_m"] == 2.0
    assert {entry["path"] for entry in sidecar["inputs"]} == {str(image), str(depth)}
    assert all(len(entry["sha256"]) == 64 for entry in sidecar["inputs"])
    result = run("render", image, "--depth", depth, *LENS_ARGS, "--focus-at", "10,10", "-o", out, "--coc-map", coc_png)
    assert result.exit_code == 0, result.output
    assert io.read_image(coc_png).color.shape == (3, 48, 64)
    assert json.loads((folder / "out.png.json").read_text())["parameters"]["focus_distance_m"] == pytest.approx(2.0)


def test_sixteen_bit_input_gives_sixteen_bit_output(shot):
    folder, image, depth = shot
    image16 = folder / "in16.png"
    io.write_image(image16, io.read_image(image).color, bit_depth=16, transfer="srgb")
    result = run("render", image16, "--depth", depth, *LENS_ARGS, "--focus-distance", 2, "-o", folder / "o.png")
    assert result.exit_code == 0, result.output
    assert io.read_image(folder / "o.png").bit_depth == 16


def bad_cases(folder, image, depth):
    wrong_size = folder / "small.npy"
    np.save(wrong_size, np.full((10, 10), 3.0, dtype=np.float32))
    nan_depth = folder / "nan.npy"
    values = np.load(depth)
    values[3, 3] = np.nan
    np.save(nan_depth, values)
    zero_depth = folder / "zero.npy"
    np.save(zero_depth, np.zeros_like(values))
    eight_bit_depth = folder / "depth8.png"
    io.write_preview_png(eight_bit_depth, np.zeros((48, 64, 3), dtype=np.uint8))
    garbage = folder / "garbage.png"
    garbage.write_text("not an image")
    out = folder / "out.png"
    return {
        "size mismatch": ([image, "--depth", wrong_size, "--focus-distance", 2, "-o", out], "small.npy"),
        "nan depth": ([image, "--depth", nan_depth, "--focus-distance", 2, "-o", out], "nan.npy"),
        "zero depth": ([image, "--depth", zero_depth, "--focus-distance", 2, "-o", out], "zero.npy"),
        "focus inside focal length": ([image, "--depth", depth, "--focus-distance", 0.05, "-o", out], "focus"),
        "missing image": ([folder / "nope.png", "--depth", depth, "--focus-distance", 2, "-o", out], "nope.png"),
        "unreadable image": ([garbage, "--depth", depth, "--focus-distance", 2, "-o", out], "garbage.png"),
        "output is the input": ([image, "--depth", depth, "--focus-distance", 2, "-o", image], "in.png"),
        "8-bit depth without near/far": ([image, "--depth", eight_bit_depth, "--focus-distance", 2, "-o", out], "depth8.png"),
        "focus point outside frame": ([image, "--depth", depth, "--focus-at", "500,3", "-o", out], "focus-at"),
        "no focus given": ([image, "--depth", depth, "-o", out], "focus"),
    }


@pytest.mark.parametrize("case", [
    "size mismatch", "nan depth", "zero depth", "focus inside focal length", "missing image", "unreadable image",
    "output is the input", "8-bit depth without near/far", "focus point outside frame", "no focus given",
])
def test_bad_input_is_one_line_exit_2_and_no_output(shot, case):
    folder, image, depth = shot
    before = image.read_bytes()
    args, must_name = bad_cases(folder, image, depth)[case]
    result = run("render", *args[:1], *LENS_ARGS, *args[1:])
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    assert must_name in message
    assert not (folder / "out.png").exists() and not (folder / "out.png.json").exists()
    assert image.read_bytes() == before  # never overwrite an input
    assert not [p for p in folder.iterdir() if ".partial" in p.name]

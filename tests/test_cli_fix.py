"""`bokehsim fix` through the real typer app: outputs, sidecar, subject codes, and bad input."""

import json

import numpy as np
import pytest
import torch
from fix_scene import HEIGHT, WIDTH, codes, reference, scene, to_8bit
from typer.testing import CliRunner

from bokehsim import io
from bokehsim.cli import app
from bokehsim.diagnosis.shot import dilate
from bokehsim.repair.protect import IN_FOCUS_COC_PX, subject_mask

runner = CliRunner()
LENS_ARGS = ["-f", "85", "-N", "2", "--focus-distance", "2"]


@pytest.fixture()
def shot(tmp_path):
    """An 8-bit picture with alpha and its depth: a generator's cut-out, the sharp subject pasted on
    the lens's own plate with a matte grown by 3 px (a strip of sharp background rings it)."""
    sharp, depth = scene()
    grown = dilate(depth <= 2.0, 3)
    picture = torch.where(grown, sharp, reference(sharp, depth))
    alpha = torch.ones(1, HEIGHT, WIDTH)
    alpha[:, :, :4] = 0.5
    io.write_image(tmp_path / "in.png", to_8bit(picture), alpha=alpha, bit_depth=8, transfer="srgb")
    np.save(tmp_path / "depth.npy", depth.numpy())
    return tmp_path, tmp_path / "in.png", tmp_path / "depth.npy", depth


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_fix_writes_picture_sidecar_compare_and_changes_and_keeps_subject_codes(shot):
    folder, image, depth_path, depth = shot
    result = run("fix", image, "--depth", depth_path, *LENS_ARGS, "-o", folder / "out.png",
                 "--compare", folder / "ba.png", "--changes", folder / "ch.png")
    assert result.exit_code == 0, result.output
    before, after = io.read_image(image), io.read_image(folder / "out.png")
    assert after.bit_depth == 8 and after.alpha is not None
    # The in-focus pixels themselves: the outline pixel the subject is grown by goes where it is a
    # pasted line (here the grown matte's sharp strip reaches it); test_fix checks result.protected.
    protected = subject_mask(_coc(depth), depth) & (_coc(depth).abs() < IN_FOCUS_COC_PX)
    assert torch.equal(codes(after.color)[:, protected], codes(before.color)[:, protected])
    assert not torch.equal(codes(after.color), codes(before.color))  # the sharp strip was re-blurred
    assert io.read_image(folder / "ba.png").color.shape[-1] == 2 * WIDTH
    changes = io.read_image(folder / "ch.png").color
    assert float(changes[:, protected].max()) == 0.0 and float(changes.max()) > 0.0
    sidecar = json.loads((folder / "out.png.json").read_text())["parameters"]
    assert sidecar["command"] == "fix" and {"tone", "rims", "blur", "grain", "hierarchy"} <= set(sidecar["decisions"])


def test_report_holds_diagnose_before_and_after(shot):
    folder, image, depth_path, _ = shot
    result = run("fix", image, "--depth", depth_path, *LENS_ARGS, "-o", folder / "out.png", "--report", folder / "r.json")
    assert result.exit_code == 0, result.output
    report = json.loads((folder / "r.json").read_text())
    assert set(report) == {"before", "after"}
    assert {"score", "signs", "primary"} <= set(report["before"]) and {"score", "signs"} <= set(report["after"])


def _coc(depth):
    from bokehsim import Lens

    return Lens(focal_length_mm=85, f_number=2, focus_distance_m=2).coc_px(depth, WIDTH)


def test_sixteen_bit_input_gives_sixteen_bit_output(shot):
    folder, _, depth_path, _ = shot
    sharp, _ = scene()
    io.write_image(folder / "in16.png", sharp, bit_depth=16, transfer="srgb")
    result = run("fix", folder / "in16.png", "--depth", depth_path, *LENS_ARGS, "-o", folder / "out16.png")
    assert result.exit_code == 0, result.output
    assert io.read_image(folder / "out16.png").bit_depth == 16


def bad_cases(folder, image, depth):
    io.write_image(folder / "small_mask.png", torch.ones(1, 10, 10), bit_depth=8, transfer="linear")
    np.save(folder / "blur_int.npy", np.zeros((HEIGHT, WIDTH), np.int32))
    io.write_image(folder / "tiny.png", torch.full((3, 6, 6), 0.5), bit_depth=8, transfer="srgb")
    np.save(folder / "tiny.npy", np.full((6, 6), 3.0, np.float32))
    out = folder / "out.png"
    return {
        "picture too small": ([folder / "tiny.png", "--depth", folder / "tiny.npy", *LENS_ARGS, "-o", out], "tiny.png"),
        "mask of another size": ([image, "--depth", depth, *LENS_ARGS, "--subject-mask", folder / "small_mask.png", "-o", out], "small_mask.png"),
        "focus point in the sky": ([image, "--depth", depth, "-f", "85", "-N", "2", "--focus-at", "2,2", "-o", out], "farthest depth"),
        "no depth source": ([image, *LENS_ARGS, "-o", out], "depth"),
        "compare not png": ([image, "--depth", depth, *LENS_ARGS, "-o", out, "--compare", folder / "ba.jpg"], "ba.jpg"),
        "black point out of range": ([image, "--depth", depth, *LENS_ARGS, "-o", out, "--black-point", "0.7"], "--black-point"),
        "integer existing blur": ([image, "--depth", depth, *LENS_ARGS, "-o", out, "--existing-blur", folder / "blur_int.npy"], "blur_int.npy"),
    }


@pytest.mark.parametrize("case", ["picture too small", "mask of another size", "focus point in the sky", "no depth source", "compare not png",
                                  "black point out of range", "integer existing blur"])
def test_bad_input_is_one_line_exit_2_and_nothing_written(shot, case):
    folder, image, depth, _ = shot
    args, must_name = bad_cases(folder, image, depth)[case]
    before = sorted(p.name for p in folder.iterdir())
    result = run("fix", *args)
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1, message
    assert must_name in message
    assert sorted(p.name for p in folder.iterdir()) == before

"""`bokehsim diagnose` through the real typer app: report, overlay, reference, batch CSV, bad input."""

import csv
import json
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bokehsim import io
from bokehsim.cli import app
from bokehsim.diagnosis import SIGN_NAMES
from diagnose_scene import HEIGHT, WIDTH, scene, shot

runner = CliRunner()
LENS_ARGS = ["-f", "85", "--focus-distance", "2"]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Two 8-bit renders of the synthetic scene (one with a fine checker pasted on the floor)."""
    folder = tmp_path_factory.mktemp("shots")
    image, depth, _ = scene(0, lamps=True)
    clean = shot(image, depth)
    patterned = clean.clone()
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(50), indexing="ij")
    patterned[:, 110:150, 10:60] *= 0.6 + 0.8 * ((yy // 2 + xx // 2) % 2).float()
    (folder / "pics").mkdir()
    (folder / "depths").mkdir()
    for name, picture in (("clean", clean), ("patterned", patterned)):
        io.write_image(folder / "pics" / f"{name}.png", picture, bit_depth=8, transfer="srgb")
        np.save(folder / "depths" / f"{name}.npy", depth.numpy())
    return folder


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_one_picture_writes_report_overlay_and_reference(pictures, tmp_path):
    report, overlay, reference = tmp_path / "r.json", tmp_path / "o.png", tmp_path / "ref.png"
    result = run("diagnose", pictures / "pics" / "patterned.png", "--depth", pictures / "depths" / "patterned.npy",
                 *LENS_ARGS, "-N", "1.4", "--json", report, "--overlay", overlay, "--reference", reference)
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert [s["sign"] for s in data["signs"]] == list(SIGN_NAMES)
    assert data["f_number"] == 1.4 and data["parameters"]["f_number"] == 1.4
    assert io.read_image(overlay).color.shape == (3, HEIGHT, WIDTH)
    assert io.read_image(reference).color.shape == (3, HEIGHT, 2 * WIDTH)  # the picture beside the render
    assert (tmp_path / "o.png.json").exists() and (tmp_path / "ref.png.json").exists()
    assert "primary" in result.output


def test_without_f_number_the_f_number_is_fitted(pictures, tmp_path):
    report = tmp_path / "r.json"
    result = run("diagnose", pictures / "pics" / "clean.png", "--depth", pictures / "depths" / "clean.npy",
                 *LENS_ARGS, "--json", report)
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["parameters"]["f_number"] is None
    assert abs(np.log2(data["implied_f_number"] / 1.4)) <= 0.5
    assert data["f_number"] == data["implied_f_number"]


def test_a_stated_f_number_the_blur_does_not_show_is_named_in_stops(pictures):
    """The render is at f/1.4; judged at f/4 its lamps' discs read 3 stops wider. At f/1.4, no gap."""
    args = ("diagnose", pictures / "pics" / "clean.png", "--depth", pictures / "depths" / "clean.npy", *LENS_ARGS)
    result = run(*args, "-N", "4")
    assert result.exit_code == 0, result.output
    gap = re.search(r"([0-9.]+) stops wider than the stated f/4", " ".join(result.output.split()))
    assert gap and abs(float(gap.group(1)) - 3.0) <= 0.3, result.output
    result = run(*args, "-N", "1.4")
    assert result.exit_code == 0 and "stops" not in result.output, result.output


def test_folder_batch_writes_one_row_per_picture(pictures, tmp_path):
    table = tmp_path / "summary.csv"
    result = run("diagnose", pictures / "pics", "--depth", pictures / "depths", *LENS_ARGS, "-N", "1.4", "--csv", table)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(table.open()))
    assert [r["file"] for r in rows] == ["clean.png", "patterned.png"]
    assert list(rows[0]) == ["file", "score", "implied_f_number", *SIGN_NAMES, "primary", "error"]
    assert rows[0]["primary"] == "" and float(rows[0]["score"]) > float(rows[1]["score"])
    assert "2 pictures" in result.output


@pytest.mark.parametrize("extra, message", [
    ([], "--depth: no depth map given"),
    (["--depth", "{small}"], "depth"),
    (["--depth", "{depth}", "--focus-distance", "0.5"], "no in-focus region at 0.5 m"),
    (["--depth", "{depth}", "--csv", "{out}/s.csv"], "--csv: for a folder of pictures"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(pictures, tmp_path, extra, message):
    small = tmp_path / "small.npy"
    np.save(small, np.full((HEIGHT - 8, WIDTH), 5.0, dtype=np.float32))
    values = {"small": small, "depth": pictures / "depths" / "clean.npy", "out": tmp_path}
    args = [a.format(**values) for a in extra]
    report, overlay = tmp_path / "r.json", tmp_path / "o.png"
    result = run("diagnose", pictures / "pics" / "clean.png", "-f", "85", "--focus-distance", "2", *args,
                 "--json", report, "--overlay", overlay)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not report.exists() and not overlay.exists()

"""The shot commands through the real app: prompt, notebook summary, focus --shot, --shot/--note on
render, and pull."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from bokehsim import io

from bokehsim.cli import app
from bokehsim.cli import commands  # noqa: F401  (registers the commands)
from bokehsim.notebook import append_note, read_notebook
from bokehsim.shot import load_shot

ROOT = Path(__file__).parent.parent
HEADSHOT = ROOT / "scenes" / "shots" / "headshot-85mm.toml"
runner = CliRunner()


def test_prompt_prints_the_geometry_sentence():
    result = runner.invoke(app, ["prompt", str(HEADSHOT)])
    assert result.exit_code == 0
    assert "85mm spherical lens at f/1.8" in result.stdout and "Negative: cutout edges" in result.stdout


def test_parse_json_and_shot_out(tmp_path):
    out = tmp_path / "parsed.toml"
    text = "85mm f/1.8, subject 1.5 m from the camera, wall 3 m behind her."
    result = runner.invoke(app, ["prompt", "--parse", text, "--json", "--shot-out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == {"shot": {"focal_length_mm": 85.0, "camera_to_subject_m": 1.5, "subject_to_background_m": 3.0,
                               "f_number": 1.8}, "missing": [], "contradictions": []}
    shot = load_shot(out)
    assert (shot.focal_length_mm, shot.f_number, shot.background_distance_m) == (85.0, 1.8, 4.5)


def test_parse_reports_missing_and_contradictions_one_line_each():
    result = runner.invoke(app, ["prompt", "--parse", "Shallow depth of field at f/16, bokeh, 50mm"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert sum(line.startswith("missing: ") for line in lines) == 3
    assert [line for line in lines if line.startswith("contradiction: ")][0].count("% of the frame width") == 1


def test_shot_out_refused_when_numbers_are_missing(tmp_path):
    out = tmp_path / "parsed.toml"
    result = runner.invoke(app, ["prompt", "--parse", "bokeh, 85mm", "--shot-out", str(out)])
    assert result.exit_code == 2
    assert "--shot-out: the text does not give f_number, camera_to_subject_m, subject_to_background_m" in result.output
    assert not out.exists()


def test_prompt_needs_exactly_one_input():
    result = runner.invoke(app, ["prompt"])
    assert result.exit_code == 2 and "give a SHOT file or --parse TEXT" in result.output


def test_notebook_summary_table_json_and_plot(tmp_path):
    notebook = tmp_path / "n.csv"
    append_note(notebook, focal_length_mm=85.0, camera_to_subject_m=1.5, f_number=1.8, rating=5)
    append_note(notebook, focal_length_mm=35.0, camera_to_subject_m=2.5, f_number=2.0, rating=2)
    plot = tmp_path / "plot.png"
    result = runner.invoke(app, ["notebook", "summary", str(notebook), "--json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert [row["focal_length_mm"] for row in json.loads(result.stdout)] == [85.0, 35.0]
    assert plot.is_file()
    table = runner.invoke(app, ["notebook", "summary", str(notebook)])
    assert table.exit_code == 0 and table.stdout.index("85 mm") < table.stdout.index("35 mm")


def test_notebook_summary_of_a_missing_file(tmp_path):
    result = runner.invoke(app, ["notebook", "summary", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "notebook not found" in result.output


@pytest.fixture()
def rgbd(tmp_path):
    """A 32 x 40 RGB-D pair: subject at 1.8 m on the left, wall at 6 m on the right."""
    import torch

    image = tmp_path / "in.png"
    io.write_image(image, torch.rand(3, 32, 40, generator=torch.Generator().manual_seed(2)), bit_depth=8, transfer="srgb")
    depth = np.full((32, 40), 6.0, dtype=np.float32)
    depth[:, :20] = 1.8
    np.save(tmp_path / "depth.npy", depth)
    return tmp_path, image, tmp_path / "depth.npy"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_focus_shot_without_an_image():
    result = run("focus", "--shot", HEADSHOT)
    assert result.exit_code == 0, result.output
    assert "sharp from      1.484 m to 1.516 m" in result.stdout
    assert "5.25% of the frame width" in result.stdout and result.stdout.rstrip().endswith("melted")
    report = json.loads(run("focus", "--shot", HEADSHOT, "-N", "16", "--json").stdout)
    assert report["f_number"] == 16 and report["background"] == "recognisable"  # the option wins over the file


def test_focus_also_sharp_past_f22_says_diffraction():
    result = run("focus", "--shot", HEADSHOT, "--also-sharp", "2.6")
    assert result.exit_code == 0, result.output
    assert "past f/22" in result.stdout and "Airy disc" in result.stdout
    two_shot = run("focus", "--shot", ROOT / "scenes" / "shots" / "anamorphic-two-shot.toml", "--also-sharp", "2.6", "--json")
    answer = json.loads(two_shot.stdout)["also_sharp"]
    assert answer["focus_distance_m"] == pytest.approx(2.1273, abs=1e-4) and answer["problem"] is None


def test_focus_needs_an_image_or_a_shot():
    result = run("focus")
    assert result.exit_code == 2 and "give an IMAGE" in result.output
    result = run("focus", "missing.png", "--also-sharp", "2")
    assert result.exit_code == 2 and "--also-sharp: needs --shot FILE" in result.output


def test_render_with_a_shot_records_it_and_notes_the_run(rgbd):
    folder, image, depth = rgbd
    out, notebook = folder / "out.png", folder / "notebook.csv"
    result = run("render", image, "--depth", depth, "--shot", HEADSHOT, "-N", "4", "-o", out, "--note", notebook, "--rating", 4)
    assert result.exit_code == 0, result.output
    parameters = json.loads((folder / "out.png.json").read_text())["parameters"]
    assert parameters["shot"]["focal_length_mm"] == 85 and parameters["f_number"] == 4.0
    assert parameters["focus_distance_m"] == 1.5  # the shot's subject distance
    row = read_notebook(notebook)[0]
    assert (row["focal_length_mm"], row["f_number"], row["subject_to_background_m"], row["rating"]) == (85, 4, 3, 4)


def test_bad_rating_fails_before_any_output(rgbd):
    folder, image, depth = rgbd
    result = run("render", image, "--depth", depth, "--shot", HEADSHOT, "-o", folder / "out.png",
                 "--note", folder / "n.csv", "--rating", 9)
    assert result.exit_code == 2 and "--rating: expected an integer from 1 to 5, got 9" in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["depth.npy", "in.png"]


def test_a_pull_frame_is_the_render_of_its_lens(rgbd):
    folder, image, depth = rgbd
    frames = folder / "pull.png"
    result = run("pull", image, "--depth", depth, "-f", 50, "-N", 1.4, "--focus-distance", 1.8,
                 "--to-distance", 6, "--frames", 3, "-o", frames)
    assert result.exit_code == 0, result.output
    lenses = json.loads((folder / "pull.png.json").read_text())["parameters"]["frames"]
    assert [lens["focus_distance_m"] for lens in lenses][::2] == [1.8, 6.0]
    middle = lenses[1]
    single = folder / "single.png"
    result = run("render", image, "--depth", depth, "-f", 50, "-N", middle["f_number"],
                 "--focus-distance", repr(middle["focus_distance_m"]), "-o", single)
    assert result.exit_code == 0, result.output
    assert np.array_equal(io.read_image(single).color.numpy(), io.read_image(folder / "pull_0002.png").color.numpy())


def test_pull_with_a_shot_writes_an_mp4(rgbd):
    pytest.importorskip("imageio_ffmpeg")
    folder, image, depth = rgbd
    out = folder / "pull.mp4"
    result = run("pull", image, "--depth", depth, "--shot", ROOT / "scenes" / "shots" / "environmental-35mm.toml",
                 "--f-number-to", 8, "--frames", 2, "-o", out)
    assert result.exit_code == 0, result.output
    parameters = json.loads((folder / "pull.mp4.json").read_text())["parameters"]
    assert parameters["shot"]["focal_length_mm"] == 35 and [f["f_number"] for f in parameters["frames"]] == [2.0, 8.0]
    assert out.stat().st_size > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frames", "1", "--to-distance", "3"], "--frames: expected at least 2 frames, got 1"),
        ([], "--to-distance/--f-number-to: a pull needs"),
        (["--to-distance", "3", "--fps", "0"], "--fps: expected a positive number"),
    ],
)
def test_bad_pull_fails_before_any_output(rgbd, args, message):
    folder, image, depth = rgbd
    result = run("pull", image, "--depth", depth, "-f", 50, "-N", 2, "--focus-distance", 2, *args, "-o", folder / "p.png")
    assert result.exit_code == 2 and message in result.output
    assert sorted(p.name for p in folder.iterdir()) == ["depth.npy", "in.png"]

"""The shot commands through the real app: prompt, notebook summary (focus --shot and pull below)."""

import json
from pathlib import Path

from typer.testing import CliRunner

from bokehsim.cli import app
from bokehsim.cli import commands  # noqa: F401  (registers the commands)
from bokehsim.notebook import append_note
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

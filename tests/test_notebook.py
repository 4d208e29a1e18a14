"""The measurement notebook: rows append, the summary ranks settings, the plot puts dots where the numbers say."""

import csv

import numpy as np
import pytest
from PIL import Image

from bokehsim.errors import InputError
from bokehsim.notebook import COLUMNS, append_note, plot_png, read_notebook, summarize


def _note(path, focal, subject, score=None, rating=None, look=None):
    append_note(path, command="render", image="a.png", focal_length_mm=focal, camera_to_subject_m=subject,
                subject_to_background_m=4.0, f_number=2.0, look=look, score=score, rating=rating)


def test_rows_append_under_one_header(tmp_path):
    path = tmp_path / "notebook.csv"
    _note(path, 85.0, 1.5, rating=5)
    _note(path, 35.0, 2.5, score=0.7)
    lines = path.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 3
    rows = read_notebook(path)
    assert [(r["focal_length_mm"], r["score"], r["rating"]) for r in rows] == [(85.0, None, 5.0), (35.0, 0.7, None)]
    assert rows[0]["time"].endswith("+00:00")


def test_summary_ranks_by_rating_then_score_and_averages_each_setting(tmp_path):
    path = tmp_path / "n.csv"
    _note(path, 85.0, 1.5, score=0.6, rating=4)
    _note(path, 85.0, 1.5, score=0.8, rating=5)
    _note(path, 35.0, 2.5, score=0.9, rating=3)
    _note(path, 50.0, 2.0, score=0.95)
    best = summarize(read_notebook(path))
    assert [(s.settings["focal_length_mm"], s.images) for s in best] == [(85.0, 2), (35.0, 1), (50.0, 1)]
    assert best[0].mean_score == pytest.approx(0.7) and best[0].mean_rating == pytest.approx(4.5)


@pytest.mark.parametrize("rating", [0, 6])
def test_rating_outside_1_to_5_is_refused_and_nothing_written(tmp_path, rating):
    path = tmp_path / "n.csv"
    with pytest.raises(InputError, match=f"--rating: expected an integer from 1 to 5, got {rating}"):
        _note(path, 50.0, 2.0, rating=rating)
    assert not path.exists()


def test_foreign_csv_is_not_appended_to(tmp_path):
    path = tmp_path / "sales.csv"
    path.write_text("month,total\njan,3\n")
    with pytest.raises(InputError, match="expected the notebook header"):
        _note(path, 50.0, 2.0)
    assert path.read_text() == "month,total\njan,3\n"


def test_bad_number_names_line_and_column(tmp_path):
    path = tmp_path / "n.csv"
    _note(path, 50.0, 2.0)
    with open(path, "a", newline="") as f:
        csv.writer(f).writerow(["t", "render", "b.png", "", "fifty", "2", "4", "2", "", "", ""])
    with pytest.raises(InputError, match=r"line 3: focal_length_mm: expected a number, got 'fifty'"):
        read_notebook(path)


def test_plot_puts_the_best_score_highest(tmp_path):
    path = tmp_path / "n.csv"
    _note(path, 35.0, 1.0, score=0.2, rating=1)
    _note(path, 85.0, 3.0, score=0.9, rating=5)
    png = tmp_path / "plot.png"
    assert plot_png(read_notebook(path), png, width_px=800, height_px=400) == "score"
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    # rating 5 is drawn green, rating 1 red; in the left panel (focal length) the green dot is
    # right of and above the red one
    left = pixels[:, :400]
    green = np.argwhere((left[..., 1] > 150) & (left[..., 0] < 60))
    red = np.argwhere((left[..., 0] > 200) & (left[..., 1] < 60))
    assert green.size and red.size
    assert green[:, 1].mean() > red[:, 1].mean() and green[:, 0].mean() < red[:, 0].mean()


def test_a_run_row_takes_focus_as_subject_distance_and_the_shot_background(tmp_path):
    from bokehsim.notebook import NoteSettings, note_run
    from bokehsim.shot import Shot

    note = NoteSettings(tmp_path / "n.csv", rating=4)
    parameters = {"command": "render", "image": tmp_path / "a.png", "output": tmp_path / "b.png", "focal_length_mm": 85.0,
                  "f_number": 1.8, "focus_distance_m": 1.5, "look": None, "shot": Shot(85, 1.8, 1.5, 3.0)}
    note_run(note, parameters)
    row = read_notebook(note.path)[0]
    assert (row["camera_to_subject_m"], row["subject_to_background_m"], row["rating"], row["output"]) == (
        1.5, 3.0, 4.0, str(tmp_path / "b.png"))
    assert note_run(NoteSettings(), parameters) is None


def test_rating_without_note_is_refused():
    from bokehsim.notebook import NoteSettings

    with pytest.raises(InputError, match="--rating: only used with --note"):
        NoteSettings(rating=3)

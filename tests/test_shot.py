"""Shot files: every shipped shot loads and round-trips; bad files name the file and the key."""

from pathlib import Path

import pytest

from bokehsim.errors import InputError
from bokehsim.shot import Shot, load_shot, merge_shot, write_shot

SHOTS = sorted((Path(__file__).parent.parent / "scenes" / "shots").glob("*.toml"))
GOOD = """focal_length_mm = 50
f_number = 2
camera_to_subject_m = 1.8
subject_to_background_m = 4
"""


def test_the_five_shots_are_shipped():
    assert {p.stem for p in SHOTS} >= {
        "headshot-85mm", "environmental-35mm", "street-night-50mm", "product-table-100mm", "anamorphic-two-shot"
    }


@pytest.mark.parametrize("path", SHOTS, ids=lambda p: p.stem)
def test_shipped_shot_round_trips(path, tmp_path):
    shot = load_shot(path)
    assert shot.lens.focus_distance_m == shot.camera_to_subject_m
    if shot.look is not None:
        from bokehsim.looks import load_look

        load_look(shot.look)  # every look a shot names exists
    write_shot(tmp_path / "copy.toml", shot)
    assert load_shot(tmp_path / "copy.toml") == shot


def test_background_distance_adds_the_two_distances():
    assert Shot(50, 2.0, 1.8, 4.2).background_distance_m == pytest.approx(6.0)


@pytest.mark.parametrize(
    "text, message",
    [
        (GOOD.replace("f_number = 2\n", ""), "f_number: required"),
        (GOOD.replace("= 1.8", "= -1"), "camera_to_subject_m: expected a number > 0, got -1"),
        (GOOD.replace("= 4", '= "far"'), "subject_to_background_m: expected a number > 0"),
        (GOOD + "zoom = 3\n", "unknown key 'zoom'"),
        (GOOD + 'sensor = "imax"\n', "sensor: expected one of"),
        (GOOD + "lights = 'lamp'\n", "lights: expected a list"),
        (GOOD.replace("= 1.8", "= 0.04"), "camera_to_subject_m: a 50 mm lens cannot focus at 0.04 m"),
        ("focal_length_mm = [", "not a valid TOML file"),
    ],
)
def test_bad_shot_file_names_file_and_key(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError, match=r"^" + str(path).replace(".", r"\.") + ": ") as info:
        load_shot(path)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_shot_file():
    with pytest.raises(InputError, match="--shot: shot file nowhere.toml not found"):
        load_shot("nowhere.toml")


def test_explicit_values_override_the_shot():
    shot = Shot(50, 2.0, 1.8, 4.0, look="modern-50mm")
    merged = merge_shot(shot, f_number=8.0, focal_length_mm=None, look=None)
    assert (merged.f_number, merged.focal_length_mm, merged.look) == (8.0, 50, "modern-50mm")

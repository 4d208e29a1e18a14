"""The geometry sentence: written sentences (tests/data/prompts.toml) parse as expected, and every
shipped shot's prompt reads back into the same numbers."""

import tomllib
from pathlib import Path

import pytest

from bokehsim.prompt import NEGATIVE, bokeh_shape, light_colour, parse_prompt, write_prompt
from bokehsim.shot import Shot, load_shot

ROOT = Path(__file__).parent.parent
SENTENCES = tomllib.loads((Path(__file__).parent / "data" / "prompts.toml").read_text())["sentence"]
SHOTS = sorted((ROOT / "scenes" / "shots").glob("*.toml"))
KEYS = ("focal_length_mm", "camera_to_subject_m", "subject_to_background_m", "f_number")


def test_enough_sentences_good_and_bad():
    assert len(SENTENCES) >= 30
    bad = [s for s in SENTENCES if s.get("missing") or s.get("contradictions")]
    assert 10 <= len(bad) <= len(SENTENCES) - 10


@pytest.mark.parametrize("case", SENTENCES, ids=lambda case: case["text"][:40])
def test_sentence_parses_as_written_down(case):
    parsed = parse_prompt(case["text"])
    shot = parsed.as_json()["shot"]
    expected = {key: case.get("shot", {}).get(key) for key in KEYS}
    assert shot == pytest.approx(expected)
    assert [f.code for f in parsed.missing] == case.get("missing", [])
    assert sorted(f.code for f in parsed.contradictions) == sorted(case.get("contradictions", []))
    for finding in parsed.missing + parsed.contradictions:
        assert "\n" not in finding.message


def test_contradiction_shows_the_coc_each_claim_implies():
    parsed = parse_prompt("An 18mm lens that isolates like an 85mm, f/2.8, subject 2 m from the camera, background 5 m behind.")
    message = next(f.message for f in parsed.contradictions if f.code == "isolation_like")
    # background CoC / frame width = A f / (S1 - f) * (S2 - S1) / S2 / w_s
    for focal in (18, 85):
        fraction = (focal / 2.8) * focal / (2000 - focal) * 5 / 7 / 36
        assert f"{100 * fraction:.2f}%" in message


@pytest.mark.parametrize("path", SHOTS, ids=lambda p: p.stem)
def test_shipped_shot_prompt_round_trips(path):
    shot = load_shot(path)
    prompt = write_prompt(shot)
    parsed = parse_prompt(str(prompt))
    assert parsed.as_json()["shot"] == {key: getattr(shot, key) for key in KEYS}
    assert parsed.missing == [] and parsed.contradictions == []
    assert str(prompt).endswith("Negative: " + ", ".join(NEGATIVE) + ".")
    for light in shot.lights:
        assert light_colour(light) in prompt.text and bokeh_shape(shot.look) in prompt.text


def test_prompt_says_the_background_class():
    assert "melted" in write_prompt(Shot(85, 1.8, 1.5, 3.0)).text
    assert "recognisable" in write_prompt(Shot(35, 8.0, 2.5, 3.0)).text


def test_anamorphic_text_becomes_an_anamorphic_shot():
    parsed = parse_prompt("50mm anamorphic at T2.8, subject 1.8 m from the camera, bar 5 m behind.")
    assert parsed.shot() == Shot(50, 2.8, 1.8, 5.0, look="anamorphic-2x")
    assert parse_prompt("50mm f/2").shot() is None

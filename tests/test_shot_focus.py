"""The focus report of a shot and the two-plane solver, against the thin-lens formulas."""

import math

import pytest
import torch

from bokehsim.lens import coc_px, depth_of_field_limits_m
from bokehsim.shot import Shot
from bokehsim.shot_focus import (
    MAX_F_NUMBER, RECOGNISABLE_MAX_FRACTION, SOFT_MAX_FRACTION, airy_disc_mm, also_sharp, blur_class, shot_report,
)


def test_report_matches_the_lens_formulas():
    shot = Shot(85, 1.8, 1.5, 3.0)
    report = shot_report(shot, image_width_px=4000)
    # background CoC: the pixel formula of CONVENTIONS at W = 4000, divided by W
    c = coc_px(torch.tensor([4.5], dtype=torch.float64), focal_length_mm=85, f_number=1.8, focus_distance_m=1.5,
               sensor_width_mm=36, image_width_px=4000)
    assert report["background_coc_px"] == pytest.approx(float(c), rel=1e-5)
    assert report["background_coc_fraction"] == pytest.approx(float(c) / 4000, rel=1e-4)
    # by hand: A = 85/1.8 mm, c = A f / (S1 - f) * (S2 - S1) / S2 on the sensor
    by_hand_mm = 85 / 1.8 * 85 / (1500 - 85) * 3.0 / 4.5
    assert report["background_coc_mm"] == pytest.approx(by_hand_mm, rel=1e-5)
    near, far = depth_of_field_limits_m(focal_length_mm=85, f_number=1.8, focus_distance_m=1.5, sensor_width_mm=36)
    assert (report["dof_near_m"], report["dof_far_m"]) == (pytest.approx(near, abs=1e-6), pytest.approx(far, abs=1e-6))
    assert report["background"] == "melted"


def test_report_is_independent_of_the_pixel_count():
    shot = Shot(35, 2.0, 2.5, 4.0)
    small, large = shot_report(shot, image_width_px=640), shot_report(shot, image_width_px=6400)
    assert small["background_coc_fraction"] == large["background_coc_fraction"]
    assert large["background_coc_px"] == pytest.approx(10 * small["background_coc_px"], rel=1e-4)


def test_classes_change_at_the_documented_thresholds():
    assert blur_class(RECOGNISABLE_MAX_FRACTION * 0.999) == "recognisable"
    assert blur_class(RECOGNISABLE_MAX_FRACTION) == "soft"
    assert blur_class(SOFT_MAX_FRACTION * 0.999) == "soft"
    assert blur_class(SOFT_MAX_FRACTION) == "melted"


def test_far_limit_is_infinite_past_hyperfocal():
    report = shot_report(Shot(24, 11.0, 5.0, 10.0))
    assert report["dof_far_m"] == "inf" and report["hyperfocal_m"] < 5.0


@pytest.mark.parametrize("other_m", [1.2, 2.6, 6.0])
def test_both_planes_get_the_asked_coc_with_opposite_signs(other_m):
    shot = Shot(50, 2.0, 1.8, 4.0)
    answer = also_sharp(shot, other_m, max_coc_px=2.0, image_width_px=3000)
    c = coc_px(torch.tensor([1.8, other_m], dtype=torch.float64), focal_length_mm=50, f_number=answer.f_number,
               focus_distance_m=answer.focus_distance_m, sensor_width_mm=36, image_width_px=3000)
    assert c.abs().tolist() == pytest.approx([2.0, 2.0], rel=1e-9)
    assert float(c[0] * c[1]) < 0  # one in front of the focus plane, one behind
    # one stop wider (smaller N) and the CoC grows past the limit: N is the widest that works
    wider = coc_px(torch.tensor([1.8], dtype=torch.float64), focal_length_mm=50, f_number=answer.f_number / 1.4142,
                   focus_distance_m=answer.focus_distance_m, sensor_width_mm=36, image_width_px=3000)
    assert float(wider.abs()) > 2.0


def test_past_f22_says_diffraction_with_the_airy_disc():
    answer = also_sharp(Shot(85, 1.8, 1.8, 4.0), 2.6, image_width_px=1920)
    assert answer.f_number > MAX_F_NUMBER
    pitch_mm = 36 / 1920
    assert answer.airy_px == pytest.approx(2.44 * 550e-6 * answer.f_number / pitch_mm)
    assert "past f/22" in answer.problem and "diffraction" in answer.problem


def test_lens_widest_aperture_bounds_the_answer():
    answer = also_sharp(Shot(50, 2.0, 2.0, 4.0), 2.02, image_width_px=1920, widest_f_number=2.8)
    assert answer.f_number == 2.8 and answer.coc_px < 1.0


def test_airy_disc():
    assert airy_disc_mm(8) == pytest.approx(2.44 * 0.00055 * 8)
    assert math.isclose(airy_disc_mm(16) / airy_disc_mm(8), 2.0)

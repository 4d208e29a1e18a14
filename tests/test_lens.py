"""Thin-lens CoC (CONVENTIONS "Thin lens") against the formula written out by hand."""

import doctest
import math

import pytest
import torch

from bokehsim import lens as lens_module
from bokehsim.errors import InputError
from bokehsim.lens import Lens, coc_px, depth_of_field_limits_m, hyperfocal_distance_m, sensor_width_mm


def coc_by_hand(f, n, s1, s2, sensor, width):
    aperture = f / n
    pitch = sensor / width
    return (aperture * f / (1000 * s1 - f)) * abs(s2 - s1) / s2 / pitch


@pytest.mark.parametrize("f, n, s1, sensor, width", [(50, 2, 2, 36, 3600), (85, 1.4, 1.5, 23.5, 1920), (24, 8, 0.5, 17.3, 640)])
@pytest.mark.parametrize("s2", [0.4, 0.9, 1.5, 2.0, 3.0, 10.0, 1e4])
def test_coc_matches_conventions_formula(f, n, s1, sensor, width, s2):
    if 1000 * s2 <= f:
        pytest.skip("point inside the focal length")
    got = coc_px(torch.tensor(s2, dtype=torch.float64), focal_length_mm=f, f_number=n, focus_distance_m=s1,
                 sensor_width_mm=sensor, image_width_px=width)
    expected = coc_by_hand(f, n, s1, s2, sensor, width)
    assert abs(float(got)) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert math.copysign(1, float(got)) == (1 if s2 >= s1 else -1) or expected == 0


def test_sign_zero_at_focus_and_growth_with_inverse_depth():
    lens = Lens(focal_length_mm=85, f_number=1.8, focus_distance_m=2.0)
    depths = torch.tensor([0.5, 1.0, 1.5, 2.0, 3.0, 6.0, 100.0], dtype=torch.float64)
    c = lens.coc_px(depths, 1920)
    assert float(c[3]) == 0.0
    assert (c[:3] < 0).all() and (c[4:] > 0).all()
    distance = (1 / 2.0 - 1 / depths).abs()
    order = torch.argsort(distance)
    assert torch.all(torch.diff(c.abs()[order]) >= 0)  # blur grows monotonically with |1/S1 - 1/S2|
    ratio = c / (1 / 2.0 - 1 / depths)
    assert torch.allclose(ratio[torch.arange(7) != 3], ratio[0].expand(6))  # linear in inverse depth


def test_lens_object_agrees_with_function():
    lens = Lens(focal_length_mm=35, f_number=2.8, focus_distance_m=3.0, sensor_width_mm=23.5)
    depth = torch.linspace(0.5, 20, 50)
    assert torch.equal(lens.coc_px(depth, 1000), coc_px(depth, focal_length_mm=35, f_number=2.8,
                       focus_distance_m=3.0, sensor_width_mm=23.5, image_width_px=1000))


def test_large_f_number_gives_no_blur():
    lens = Lens(focal_length_mm=50, f_number=1e6, focus_distance_m=2.0)
    assert float(lens.coc_px(torch.tensor([0.3, 100.0]), 4000).abs().max()) < 0.05


def test_sensor_presets_and_widths():
    assert sensor_width_mm("full-frame") == 36.0
    assert sensor_width_mm("aps-c") == 23.5
    assert sensor_width_mm("micro-four-thirds") == 17.3
    assert sensor_width_mm("one-inch") == 13.2
    assert sensor_width_mm("28.7") == 28.7
    with pytest.raises(InputError, match="--sensor: expected one of full-frame"):
        sensor_width_mm("medium")
    with pytest.raises(InputError, match="positive width"):
        sensor_width_mm("-3")
    with pytest.raises(InputError, match="positive width"):
        sensor_width_mm(True)  # a TOML boolean is not 1 mm
    with pytest.raises(InputError, match=r"^scene\.toml: shot\.sensor: expected one of"):
        sensor_width_mm("medium", source="scene.toml: shot.sensor")


def test_focus_must_exceed_focal_length():
    with pytest.raises(InputError, match="cannot focus at 0.05 m"):
        Lens(focal_length_mm=50, f_number=2, focus_distance_m=0.05)
    with pytest.raises(InputError, match="--f-number"):
        Lens(focal_length_mm=50, f_number=0, focus_distance_m=2)


def test_depth_of_field_limits_bracket_focus_and_reach_infinity_at_hyperfocal():
    h = hyperfocal_distance_m(focal_length_mm=50, f_number=8, sensor_width_mm=36)
    assert h == pytest.approx((50**2 / (8 * 0.03) + 50) / 1000)
    near, far = depth_of_field_limits_m(focal_length_mm=50, f_number=8, focus_distance_m=3, sensor_width_mm=36)
    assert near < 3 < far
    assert depth_of_field_limits_m(focal_length_mm=50, f_number=8, focus_distance_m=h, sensor_width_mm=36)[1] == math.inf
    # At the limits the CoC on the sensor equals the acceptable CoC (0.03 mm = 30 px at 1 um pitch).
    c = coc_px(torch.tensor([near, far], dtype=torch.float64), focal_length_mm=50, f_number=8,
               focus_distance_m=3, sensor_width_mm=36, image_width_px=36000)
    assert c.abs().tolist() == pytest.approx([30, 30], rel=0.02)


def test_doctests():
    assert doctest.testmod(lens_module).failed == 0

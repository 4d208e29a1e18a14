"""Tests for bokehsim.depth: every source kind, calibration, bad input, focus picking, `bokehsim focus`."""

from __future__ import annotations

import json
import math

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bokehsim.cli import app
from bokehsim.cli._depth_opts import DEFAULTS, DepthKind, depth_options_from_cli
from bokehsim.depth import (
    INFINITY_INVERSE_DEPTH,
    DepthOptions,
    depth_at,
    disparity_to_depth_m,
    far_mode,
    load_depth,
    parse_point,
    robust_range,
)
from bokehsim.errors import InputError
from bokehsim.focus import focus_report
from bokehsim.lens import coc_px, depth_of_field_limits_m, hyperfocal_distance_m

H, W = 40, 60
IMAGE = torch.rand(3, H, W, generator=torch.Generator().manual_seed(0))


def scene_depth_m() -> torch.Tensor:
    """Subject at 2 m (left block), a ramp of 3-5 m, a wall at 8 m (right third)."""
    depth = torch.full((H, W), 8.0)
    depth[:, 20:40] = torch.linspace(3.0, 5.0, 20)
    depth[8:32, 4:16] = 2.0
    return depth


def save(tmp_path, values: np.ndarray, name: str) -> str:
    path = tmp_path / name
    if name.endswith(".npy"):
        np.save(path, values.astype(np.float32))
    else:
        iio.imwrite(path, values)
    return path


def load(tmp_path, values: np.ndarray, name: str = "depth.npy", image=IMAGE, **options):
    return load_depth(save(tmp_path, values, name), image, DepthOptions(**options))


# --- sources -----------------------------------------------------------------------------------


def test_metric_float_depth_is_used_as_stored(tmp_path):
    truth = scene_depth_m()
    result = load(tmp_path, truth.numpy())
    assert torch.equal(result.depth_m, truth)
    assert result.report["kind"] == "metric" and result.report["refined"] is False
    assert result.depth_m.dtype == torch.float32 and result.warnings == []


def test_inverse_float_map_two_anchors_reproduce_every_depth(tmp_path):
    truth = scene_depth_m()
    relative = 7.0 / truth - 0.3  # an estimator's affine-invariant inverse depth
    result = load(
        tmp_path, relative.numpy(), kind="inverse", subject_distance_m=2.0, focus_at="10,20",
        background_distance_m=8.0, background_at="55,5",
    )
    torch.testing.assert_close(result.depth_m, truth, rtol=1e-5, atol=0)
    subject, background = result.report["subject"], result.report["background"]
    assert subject == {"at_px": [10, 20], "depth_m": pytest.approx(2.0)}
    assert background["at_px"] == [55, 5] and background["depth_m"] == pytest.approx(8.0)
    assert result.report["calibration"]["rule"] == "two anchors"


def test_depth_kind_white_is_far_is_affine_in_depth(tmp_path):
    truth = scene_depth_m()
    relative = (truth - 1.0) / 10.0  # a normalised z-buffer: white = far
    result = load(
        tmp_path, relative.numpy(), kind="depth", subject_distance_m=2.0, focus_at="10,20",
        background_distance_m=8.0, background_at="55,5",
    )
    torch.testing.assert_close(result.depth_m, truth, rtol=1e-5, atol=0)
    assert result.report["calibration"]["formula"] == "z = scale * v + offset"


def test_disparity_with_baseline_and_focal_length_px(tmp_path):
    truth = scene_depth_m()
    disparity = 1400.0 * 0.12 / truth
    result = load(tmp_path, disparity.numpy(), kind="disparity", baseline_m=0.12, focal_length_px=1400.0)
    torch.testing.assert_close(result.depth_m, truth, rtol=1e-5, atol=0)
    assert disparity_to_depth_m(torch.tensor([84.0]), baseline_m=0.12, focal_length_px=1400).item() == 2.0


def test_disparity_without_baseline_needs_one_distance_since_zero_disparity_is_infinity(tmp_path):
    truth = scene_depth_m()
    result = load(tmp_path, (33.0 / truth).numpy(), kind="disparity", subject_distance_m=2.0, focus_at="10,20")
    torch.testing.assert_close(result.depth_m, truth, rtol=1e-5, atol=0)


def test_one_anchor_puts_the_far_end_of_the_map_at_infinity(tmp_path):
    truth = scene_depth_m()
    truth[:4] = math.inf  # a sky: 10% of the frame
    relative = 3.0 / truth + 0.2  # offset unknown to the calibration
    result = load(tmp_path, relative.numpy(), kind="inverse", subject_distance_m=2.0, focus_at="10,20")
    finite = torch.isfinite(truth)
    torch.testing.assert_close(result.depth_m[finite], truth[finite], rtol=1e-5, atol=0)
    assert torch.allclose(result.depth_m[~finite], torch.tensor(1.0 / INFINITY_INVERSE_DEPTH))
    assert result.report["calibration"]["rule"].startswith("one anchor; map value 0.2 (far end) at infinity")
    assert result.report["clamped_fraction"] == 0.0


def test_8bit_map_near_far_maps_the_robust_extremes(tmp_path):
    codes = np.tile(np.linspace(0, 255, W).round().astype(np.uint8), (H, 1))
    codes[:, :6], codes[:, -6:] = 0, 255  # the extremes hold more than 0.5% of the pixels
    result = load(tmp_path, codes, "depth.png", near_m=1.5, far_m=12.0)
    v = torch.from_numpy(codes).float() / 255.0
    expected = 1.0 / (1.0 / 12.0 + v * (1.0 / 1.5 - 1.0 / 12.0))  # white = near
    torch.testing.assert_close(result.depth_m, expected, rtol=1e-5, atol=0)
    assert result.report["depth_range_m"] == [pytest.approx(1.5), pytest.approx(12.0)]
    assert result.report["kind"] == "inverse" and result.report["bit_depth"] == 8


def test_far_inf_puts_black_at_infinity(tmp_path):
    codes = np.zeros((H, W), np.uint8)
    codes[:, 30:] = 255
    result = load(tmp_path, codes, "depth.png", near_m=2.0, far_m=math.inf)
    assert result.depth_m[0, 40].item() == pytest.approx(2.0)
    assert result.depth_m[0, 0].item() == pytest.approx(1.0 / INFINITY_INVERSE_DEPTH)
    json.dumps(result.report, allow_nan=False)


def test_16bit_metric_png_is_millimetres(tmp_path):
    millimetres = (scene_depth_m() * 1000).round().numpy().astype(np.uint16)
    result = load(tmp_path, millimetres, "depth.png", kind="metric")
    torch.testing.assert_close(result.depth_m, torch.from_numpy(millimetres.astype(np.float32)) / 1000, rtol=1e-6, atol=0)
    assert result.report["units"] == "mm"


def test_background_is_found_at_the_far_mode(tmp_path):
    truth = scene_depth_m()
    result = load(tmp_path, (1.0 / truth).numpy(), kind="inverse", subject_distance_m=2.0, focus_at="10,20", background_distance_m=8.0)
    torch.testing.assert_close(result.depth_m, truth, rtol=1e-5, atol=0)
    assert result.report["background"]["picked"].startswith("far mode")


def test_far_mode_prefers_the_farthest_populated_mode_over_the_largest():
    nearness = torch.cat([torch.full((700,), 0.5), torch.full((250,), 0.1), torch.linspace(0.1, 0.5, 50)])
    value, share = far_mode(nearness)
    assert value == pytest.approx(0.1) and 0.2 < share < 0.4


def test_report_is_plain_json(tmp_path):
    result = load(tmp_path, (1.0 / scene_depth_m()).numpy(), kind="inverse", near_m=2.0, far_m=8.0, focus_at="0.5,0.5")
    text = json.dumps(result.report, allow_nan=False)
    assert '"anchors"' in text and '"depth_range_m"' in text


# --- calibration problems ------------------------------------------------------------------------


def test_inverted_calibration_is_an_error(tmp_path):
    truth = scene_depth_m()
    with pytest.raises(InputError, match=r"depth\.npy: inverted calibration.*--depth-kind depth"):
        load(
            tmp_path, truth.numpy(), kind="inverse", subject_distance_m=2.0, focus_at="10,20",
            background_distance_m=8.0, background_at="55,5",
        )


def test_flat_map_warns(tmp_path):
    codes = np.full((H, W), 128, np.uint8)
    codes[:, 30:] = 131
    result = load(tmp_path, codes, "depth.png", near_m=2.0, far_m=3.0)
    assert any("nearly flat" in w and "depth.png" in w for w in result.warnings)


def test_anchors_on_nearly_the_same_map_value_warn(tmp_path):
    truth = scene_depth_m()
    relative = 1.0 / truth
    relative[:, 40:] = 0.49  # the background barely differs from the subject (0.5)
    result = load(
        tmp_path, relative.numpy(), kind="inverse", subject_distance_m=2.0, focus_at="10,20",
        background_distance_m=8.0, background_at="55,5",
    )
    assert any("barely separates" in w for w in result.warnings)


def test_8bit_map_without_distances_is_an_error_naming_the_options(tmp_path):
    codes = np.tile(np.arange(W, dtype=np.uint8), (H, 1))
    with pytest.raises(InputError, match=r"depth\.png: an 8-bit inverse map is relative .*--near M --far M.*--subject-distance"):
        load(tmp_path, codes, "depth.png")


@pytest.mark.parametrize(
    "values, options, message",
    [
        (np.full((H, W), 0.5), {"kind": "inverse", "near_m": 1.0, "far_m": 2.0}, r"depth\.npy: the depth map is constant"),
        (np.where(np.eye(H, W) > 0, np.nan, 2.0), {}, r"depth\.npy: 40 pixels have NaN or infinite values; expected finite depth \(first at x=0, y=0, value nan\)"),
        (np.where(np.eye(H, W) > 0, -1.0, 2.0), {}, r"depth\.npy: 40 pixels have depth <= 0 m"),
        (np.zeros((H, W)), {"kind": "disparity", "baseline_m": 0.1, "focal_length_px": 900.0}, r"disparity <= 0"),
        (np.full((H, W), 2.0), {"near_m": 1.0}, r"--near: .*depth\.npy is already metric depth"),
        (np.full((H, W), 2.0), {"near_m": 1.0, "far_m": 5.0, "subject_distance_m": 2.0}, r"pass at most two"),
        (np.full((H, W), 2.0), {"near_m": 5.0, "far_m": 1.0}, r"--far: expected more than --near"),
        (np.full((H, W), 2.0), {"baseline_m": 0.1}, r"--baseline/--focal-length-px: disparity needs both"),
        (np.full((H, W), 2.0), {"kind": "stereo"}, r"--depth-kind: expected one of"),
        (np.full((H, W), 2.0), {"estimate": True}, r"--estimate-depth: a depth file was given too"),
        (np.eye(H, W), {"kind": "inverse", "near_m": 1.0, "background_at": "3,3"}, r"--background-at: .*pass --background-distance"),
        (np.eye(H, W), {"kind": "depth", "near_m": 1.0, "far_m": math.inf}, r"--far: a depth map \(white = far\) cannot reach infinity"),
        (np.eye(H, W), {"kind": "inverse", "far_m": 9.0}, r"--far lies at the far end of the map"),
        (np.full((H, W), 2.0), {"focus_at": "70,3"}, r"--focus-at: point \(70, 3\) is outside the 60x40 frame"),
    ],
)
def test_bad_depth_is_refused_with_one_line(tmp_path, values, options, message):
    with pytest.raises(InputError, match=message) as caught:
        load(tmp_path, values, **options)
    assert "\n" not in str(caught.value)


def test_depth_kind_map_needs_two_distances(tmp_path):
    with pytest.raises(InputError, match="needs two distances"):
        load(tmp_path, scene_depth_m().numpy(), kind="depth", subject_distance_m=2.0, focus_at="10,20")


def test_metric_constant_depth_warns(tmp_path):
    result = load(tmp_path, np.full((H, W), 3.0))
    assert any("constant" in w for w in result.warnings)


def test_subject_without_focus_at_uses_the_centre_and_says_so(tmp_path):
    result = load(tmp_path, (1.0 / scene_depth_m()).numpy(), kind="inverse", subject_distance_m=4.0)
    assert result.report["subject"]["at_px"] == [30, 20]
    assert any("centre of the frame" in w for w in result.warnings)


# --- size ---------------------------------------------------------------------------------------


def test_size_mismatch_is_refused_without_resize(tmp_path):
    with pytest.raises(InputError, match=r"depth\.npy: depth map is 30x20 but the image is 60x40; pass --resize-depth"):
        load(tmp_path, np.full((20, 30), 2.0))


def test_resize_keeps_edges_as_steps(tmp_path):
    small = np.full((20, 30), 8.0, np.float32)
    small[:, :13] = 2.0
    result = load(tmp_path, small, resize=True)
    assert result.depth_m.shape == (H, W) and result.report["resized_from"] == [30, 20]
    assert set(result.depth_m.unique().tolist()) == {2.0, 8.0}  # nothing in between
    assert result.warnings == []


def test_resize_interpolates_smooth_areas_and_warns_on_stretch(tmp_path):
    ramp = np.tile(np.linspace(2.0, 2.2, 25, dtype=np.float32), (10, 1))
    result = load(tmp_path, ramp, resize=True)
    row = result.depth_m[5]
    assert len(row.unique()) > 25 and bool((row[1:] >= row[:-1] - 1e-6).all())
    assert any("stretched" in w for w in result.warnings)


# --- points ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("640,360", (640, 360)), ("0.5,0.4", (640, 288)), ("1.0,1.0", (1279, 719)), ("1,1", (1, 1)),
     ("0, 719", (0, 719)), (" 12.6 , 3 ", (13, 3)), ("0.5,0", (640, 0))],
)
def test_parse_point_pixels_and_fractions(text, expected):
    assert parse_point(text, 1280, 720) == expected


@pytest.mark.parametrize(
    "text, message",
    [("1280,10", r"--focus-at: point \(1280, 10\) is outside the 1280x720 frame"), ("-3,5", "outside"),
     ("0.5,300", "mixes a fraction with a pixel coordinate"), ("5", "expected X,Y"), ("a,b", "expected X,Y"),
     ("nan,3", "finite")],
)
def test_parse_point_refuses_bad_points(text, message):
    with pytest.raises(InputError, match=message):
        parse_point(text, 1280, 720)


def test_depth_at_is_a_robust_median():
    depth = torch.full((9, 9), 3.0)
    depth[4, 4] = 100.0  # a speck under the point
    depth[3, 5] = 0.5
    assert depth_at(depth, 4, 4, patch=3) == 3.0
    assert depth_at(depth, 0, 0, patch=5) == 3.0  # clipped at the corner


def test_robust_range_ignores_stray_pixels():
    depth = torch.full((100, 100), 4.0)
    depth[:50] = 2.0
    depth[0, :20] = 1000.0
    assert robust_range(depth) == (2.0, 4.0)


# --- focus ----------------------------------------------------------------------------------------


def test_focus_report_matches_the_lens_functions():
    depth = scene_depth_m()
    report = focus_report(depth, 10, 20, focal_length_mm=85, f_number=1.8, sensor_width_mm=36)
    near, far = depth_of_field_limits_m(focal_length_mm=85, f_number=1.8, focus_distance_m=2.0, sensor_width_mm=36)
    assert report["depth_m"] == 2.0 and report["focus_distance_m"] == 2.0
    assert report["dof_near_m"] == pytest.approx(near, abs=1e-6) and report["dof_far_m"] == pytest.approx(far, abs=1e-6)
    assert report["hyperfocal_m"] == pytest.approx(hyperfocal_distance_m(focal_length_mm=85, f_number=1.8, sensor_width_mm=36), abs=1e-6)
    ends = coc_px(torch.tensor([2.0, 8.0]), focal_length_mm=85, f_number=1.8, focus_distance_m=2.0, sensor_width_mm=36, image_width_px=W)
    assert report["coc_px_at_range"] == pytest.approx(ends.tolist(), abs=1e-5)


runner = CliRunner()


@pytest.fixture()
def focus_files(tmp_path):
    from bokehsim import io

    image = tmp_path / "photo.png"
    io.write_image(image, IMAGE, bit_depth=8, transfer="srgb")
    metric = tmp_path / "depth.npy"
    np.save(metric, scene_depth_m().numpy())
    codes = (255 * (2.0 / scene_depth_m())).round().numpy().astype(np.uint8)  # white = near
    coded = tmp_path / "depth.png"
    iio.imwrite(coded, codes)
    return image, metric, coded


def invoke(*args):
    return runner.invoke(app, ["focus", *map(str, args)])


def test_focus_cli_prints_depth_and_depth_of_field(focus_files):
    image, metric, _ = focus_files
    result = invoke(image, "--depth", metric, "--at", "10,20", "-f", 85, "-N", 1.8)
    assert result.exit_code == 0, result.output
    near, far = depth_of_field_limits_m(focal_length_mm=85, f_number=1.8, focus_distance_m=2.0, sensor_width_mm=36)
    hyperfocal = hyperfocal_distance_m(focal_length_mm=85, f_number=1.8, sensor_width_mm=36)
    assert "depth at point  2.000 m" in result.output
    assert "depth range     2.000 m to 8.000 m" in result.output
    assert f"hyperfocal      {hyperfocal:.3f} m" in result.output
    assert f"sharp from      {near:.3f} m to {far:.3f} m" in result.output


def test_focus_cli_calibrates_an_8bit_map_and_prints_json(focus_files):
    image, _, coded = focus_files
    result = invoke(
        image, "--depth", coded, "--subject-distance", 2, "--focus-at", "10,20", "--background-distance", 8,
        "--background-at", "0.95,0.1", "-f", 50, "-N", 2, "--focus-distance", 3, "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["depth_m"] == pytest.approx(2.0) and report["focus_distance_m"] == 3.0
    near, _ = depth_of_field_limits_m(focal_length_mm=50, f_number=2, focus_distance_m=3.0, sensor_width_mm=36)
    assert report["dof_near_m"] == pytest.approx(near, abs=1e-6)
    assert report["depth"]["background"]["depth_m"] == pytest.approx(8.0, rel=1e-5)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--at", "100,3"], "--at: point (100, 3) is outside the 60x40 frame"),
        (["-f", "50"], "--focal-length/--f-number: the depth of field needs both"),
        (["--focus-distance", "2"], "--focus-distance: only used for the depth of field"),
        (["--sensor", "huge"], "--sensor: expected one of"),
        (["--depth-kind", "inverse", "--near", "3", "--far", "1"], "--far: expected more than --near"),
    ],
)
def test_focus_cli_bad_input_exits_2_with_one_line(focus_files, extra, message):
    image, metric, _ = focus_files
    result = invoke(image, "--depth", metric, *extra)
    assert result.exit_code == 2
    assert message in result.output and result.output.count("error:") == 1


def test_focus_cli_uncalibrated_8bit_map(focus_files):
    image, _, coded = focus_files
    result = invoke(image, "--depth", coded)
    assert result.exit_code == 2
    assert "depth.png: an 8-bit inverse map is relative" in " ".join(result.output.split())


def test_cli_options_become_depth_options():
    options = depth_options_from_cli(
        depth_kind=DepthKind.disparity, baseline=0.1, focal_length_px=800.0, focus_at="0.5,0.5", refine_depth=False
    )
    assert options == DepthOptions(kind="disparity", baseline_m=0.1, focal_length_px=800.0, focus_at="0.5,0.5", refine=False)
    defaults = {k: v for k, v in DEFAULTS.items() if k != "depth"}
    assert depth_options_from_cli(**defaults) == DepthOptions()

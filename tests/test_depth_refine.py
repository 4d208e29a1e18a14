"""Tests for bokehsim.depth_refine: measured on a synthetic scene whose depth is known exactly."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from bokehsim.depth_refine import (
    _box_mean,
    _box_sum,
    default_radius_px,
    guided_filter,
    max_filter,
    min_filter,
    refine_inverse_depth,
    resize_depth,
)
from bokehsim.tone import srgb_to_linear

SUBJECT_M, BACKGROUND_M = 1.5, 6.0


def textured(height: int, width: int, base: list[float], generator: torch.Generator) -> torch.Tensor:
    """(3, H, W) sRGB: a base colour with colour noise and diagonal stripes (no flat areas)."""
    noise = F.avg_pool2d(torch.rand(1, 3, height, width, generator=generator), 3, 1, 1)[0]
    yy, xx = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    stripes = 0.5 * torch.sin(xx * 0.7 + yy * 0.3)
    return (torch.tensor(base)[:, None, None] + 0.25 * (noise - 0.5) + 0.15 * stripes).clamp(0, 1)


def ellipse_scene(size: int = 128, twig: bool = False):
    """A textured orange ellipse (subject, 1.5 m) on a textured blue wall (6 m); linear image,
    true inverse depth, subject mask; optionally a 1-2 px diagonal twig at the subject's depth."""
    generator = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32), indexing="ij")
    subject = ((xx - 0.45 * size) / (0.22 * size)) ** 2 + ((yy - 0.5 * size) / (0.3 * size)) ** 2 <= 1.0
    if twig:
        subject |= ((xx - 0.5 * yy - 0.62 * size).abs() <= 0.6) & (yy < 0.8 * size)
    srgb = torch.where(subject, textured(size, size, [0.75, 0.45, 0.3], generator), textured(size, size, [0.3, 0.5, 0.65], generator))
    inverse_depth = torch.where(subject, torch.tensor(1 / SUBJECT_M), torch.tensor(1 / BACKGROUND_M))
    return srgb_to_linear(srgb), inverse_depth, subject


def like_an_estimator(inverse_depth: torch.Tensor, sigma: float = 2.0, shift: tuple[int, int] = (3, 2)) -> torch.Tensor:
    """What a monocular estimator does to a depth edge: a Gaussian blur and a shift of a few pixels."""
    radius = int(3 * sigma)
    kernel = torch.exp(-torch.arange(-radius, radius + 1.0) ** 2 / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    x = F.pad(inverse_depth[None, None], (radius,) * 4, mode="replicate")
    x = F.conv2d(F.conv2d(x, kernel.view(1, 1, 1, -1)), kernel.view(1, 1, -1, 1))[0, 0]
    return torch.roll(x, shifts=shift, dims=(1, 0))


def edge_band(mask: torch.Tensor, width: int = 6) -> torch.Tensor:
    """Pixels within ``width`` px of the mask's outline (away from the frame border)."""
    grow = lambda m: F.max_pool2d(m.float()[None, None], 2 * width + 1, 1, width)[0, 0] > 0  # noqa: E731
    band = grow(mask) & grow(~mask)
    band[:width], band[-width:], band[:, :width], band[:, -width:] = False, False, False, False
    return band


def intermediate_share(inverse_depth: torch.Tensor, band: torch.Tensor, tolerance: float = 0.1) -> float:
    """Share of band pixels more than ``tolerance`` of the step from both sides' depths."""
    near, far = 1 / SUBJECT_M, 1 / BACKGROUND_M
    step = near - far
    between = ((inverse_depth - near).abs() > tolerance * step) & ((inverse_depth - far).abs() > tolerance * step)
    return float(between[band].float().mean())


@pytest.fixture(scope="module")
def measured():
    image, truth, subject = ellipse_scene()
    estimated = like_an_estimator(truth)
    refined = refine_inverse_depth(estimated, image)
    return image, truth, subject, estimated, refined, edge_band(subject)


def test_refined_depth_is_closer_to_the_truth_in_the_edge_band(measured):
    _, truth, subject, estimated, refined, band = measured
    error_before = float((estimated - truth)[band].abs().mean())
    error_after = float((refined - truth)[band].abs().mean())
    wrong_side = lambda d: float(((d > (1 / SUBJECT_M + 1 / BACKGROUND_M) / 2) != subject)[band].float().mean())  # noqa: E731
    print(f"edge band: mean |error| in 1/m {error_before:.4f} -> {error_after:.4f}; "
          f"wrong side {wrong_side(estimated):.1%} -> {wrong_side(refined):.1%}")
    assert error_after < 0.25 * error_before
    assert wrong_side(refined) < 0.25 * wrong_side(estimated)


def test_refinement_creates_no_depth_between_the_two_sides(measured):
    _, truth, _, estimated, refined, band = measured
    assert float(refined[band].min()) >= 1 / BACKGROUND_M - 1e-6 and float(refined[band].max()) <= 1 / SUBJECT_M + 1e-6
    print(f"edge band: share between the sides {intermediate_share(estimated, band):.1%} -> {intermediate_share(refined, band):.1%}")
    assert intermediate_share(estimated, band) > 0.2
    assert intermediate_share(refined, band) == 0.0


def test_render_with_refined_depth_is_closer_to_the_true_render(measured):
    from bokehsim import Lens, render

    image, truth, subject, estimated, refined, band = measured
    lens = Lens(focal_length_mm=85, f_number=2.8, focus_distance_m=SUBJECT_M, sensor_width_mm=36)  # wall CoC 4.9 px
    reference = render(image, 1 / truth, lens)
    psnr = lambda d: -10 * math.log10(float(((render(image, 1 / d, lens) - reference) ** 2)[:, band].mean()) + 1e-12)  # noqa: E731
    before, after = psnr(estimated), psnr(refined)
    print(f"render PSNR in the edge band vs. the true-depth render: {before:.1f} dB -> {after:.1f} dB")
    assert after > before + 6.0


def test_thin_structures_survive(measured):
    image, truth, subject = ellipse_scene(twig=True)
    twig = subject & ~ellipse_scene()[2]
    # A sharp map (e.g. a rendered one) keeps its twig exactly.
    assert torch.equal(refine_inverse_depth(truth, image)[twig], truth[twig])
    # An estimator's map keeps at least the faint twig it has (nothing pulls it to the background).
    estimated = like_an_estimator(truth)
    refined = refine_inverse_depth(estimated, image)
    assert float(refined[twig].mean()) >= float(estimated[twig].mean()) - 1e-6
    assert float(refined[twig].mean()) > 1 / BACKGROUND_M + 0.03


def test_a_third_layer_between_subject_and_wall_is_kept():
    image, truth, subject = ellipse_scene()
    size = truth.shape[0]
    xx = torch.arange(size).expand(size, size)
    pole = ((xx - 100).abs() <= 4) & ~subject  # 9 px wide, 3 m, 10 px right of the subject: both in one window
    generator = torch.Generator().manual_seed(3)
    image = torch.where(pole, srgb_to_linear(textured(size, size, [0.35, 0.7, 0.35], generator)), image)
    truth = torch.where(pole, torch.tensor(1 / 3.0), truth)
    estimated = like_an_estimator(truth)
    refined = refine_inverse_depth(estimated, image)
    core = ((xx - 100).abs() <= 1) & (torch.arange(size)[:, None] > 8) & (torch.arange(size)[:, None] < size - 8)
    assert float((refined - truth)[core].abs().max()) < 0.05 * (1 / SUBJECT_M - 1 / BACKGROUND_M)


def test_slopes_are_left_alone():
    yy = torch.arange(96.0)[:, None].expand(96, 128)
    floor = 0.1 + yy / 96  # inverse depth of a floor is linear in the image row
    image = torch.rand(3, 96, 128, generator=torch.Generator().manual_seed(1))
    assert torch.equal(refine_inverse_depth(floor, image), floor)
    diagonal = 0.1 + (yy + torch.arange(128.0)) / 224
    assert torch.equal(refine_inverse_depth(diagonal, image), diagonal)


def test_refinement_is_affine_equivariant_and_flat_maps_pass(measured):
    image, _, _, estimated, refined, _ = measured
    torch.testing.assert_close(refine_inverse_depth(3.0 * estimated + 0.5, image), 3.0 * refined + 0.5, rtol=1e-5, atol=1e-5)
    flat = torch.full_like(estimated, 0.3)
    assert torch.equal(refine_inverse_depth(flat, image), flat)


# --- building blocks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [1, 4, 9])
def test_box_sum_and_extreme_filters_match_references_on_awkward_sizes(radius):
    x = torch.rand(2, 37, 23, generator=torch.Generator().manual_seed(radius))
    size = 2 * radius + 1
    reference_sum = F.conv2d(F.pad(x[:, None], (radius,) * 4), torch.ones(1, 1, size, size))[:, 0]
    torch.testing.assert_close(_box_sum(x, radius), reference_sum, rtol=1e-5, atol=1e-4)
    reference_max = F.max_pool2d(x[:1, None], size, 1, radius)[0, 0]
    assert torch.equal(max_filter(x[0], radius), reference_max)
    assert torch.equal(min_filter(x[0], radius), -F.max_pool2d(-x[:1, None], size, 1, radius)[0, 0])


def test_guided_filter_reproduces_a_linear_function_of_the_guide():
    guide = torch.rand(3, 31, 29, generator=torch.Generator().manual_seed(4))
    target = 0.2 + 0.5 * guide[0] - 0.3 * guide[2]
    torch.testing.assert_close(guided_filter(guide, target, radius=3, eps=1e-8), target, rtol=0, atol=1e-3)


def test_resize_depth_steps_stay_steps_and_ramps_stay_smooth():
    step = torch.ones(10, 16)
    step[:, 7:] = 5.0
    for size in ((25, 40), (4, 7)):
        resized = resize_depth(step, size)
        assert resized.shape == size and set(resized.unique().tolist()) <= {1.0, 5.0}
    ramp = torch.linspace(1.0, 1.04, 16).expand(10, 16).clone()
    ramp[:, 14:] = 5.0  # the map's range is set by an edge; the gentle ramp is interpolated
    row = resize_depth(ramp, (10, 40))[0, :30]
    assert len(row.unique()) > 20 and bool((row[1:] >= row[:-1]).all())


def test_default_radius_grows_with_the_image():
    assert default_radius_px(128, 128) == 12 and default_radius_px(2160, 3840) == 77


@pytest.mark.parametrize("radius", [1, 4, 9])
def test_box_mean_divides_by_the_clipped_window_count(radius):
    x = torch.rand(2, 37, 23, generator=torch.Generator().manual_seed(radius))
    size = 2 * radius + 1
    ones = F.conv2d(F.pad(torch.ones(1, 1, 37, 23), (radius,) * 4), torch.ones(1, 1, size, size))[:, 0]
    torch.testing.assert_close(_box_mean(x, radius), _box_sum(x, radius) / ones, rtol=1e-6, atol=1e-7)
    assert float(ones[0, 0, 0]) == (radius + 1) ** 2  # a corner window holds a quarter and a bit

"""The diagnosis's small operators against plain references: the Gaussian blur, the boolean
dilation and the quantile are written for speed, and must give the same numbers."""

import math

import pytest
import torch
import torch.nn.functional as F

from bokehsim.depth_refine import max_filter
from bokehsim.diagnosis.filters import gaussian_blur, quantile
from bokehsim.diagnosis.shot import dilate, distance_px


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.5, 8.0])
def test_gaussian_blur_is_the_separable_convolution_with_edges_replicated(sigma):
    planes = torch.rand(2, 3, 41, 29, generator=torch.Generator().manual_seed(1))
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float64) / sigma) ** 2)
    kernel = (taps[:, None] * taps[None, :] / taps.sum() ** 2).float()
    padded = F.pad(planes.reshape(-1, 1, 41, 29), (radius,) * 4, mode="replicate")
    reference = F.conv2d(padded, kernel[None, None]).reshape(2, 3, 41, 29)
    torch.testing.assert_close(gaussian_blur(planes, sigma), reference, rtol=0, atol=1e-5)  # float32 sums


@pytest.mark.parametrize("radius", [1, 2, 3, 7, 20])
def test_dilate_grows_by_the_square_max_pooling_gives(radius):
    mask = torch.rand(53, 31, generator=torch.Generator().manual_seed(radius)) > 0.97
    pooled = F.max_pool2d(mask.float()[None, None], 2 * radius + 1, 1, radius)[0, 0] > 0
    assert torch.equal(dilate(mask, radius), pooled)
    assert torch.equal(max_filter(mask, radius), pooled)  # the bool path dilate uses
    assert torch.equal(dilate(mask, 0), mask)


def test_distance_px_is_the_chessboard_distance():
    mask = torch.zeros(9, 12, dtype=torch.bool)
    mask[4, 5] = True
    y, x = torch.meshgrid(torch.arange(9), torch.arange(12), indexing="ij")
    expected = torch.maximum((y - 4).abs(), (x - 5).abs()).float().clamp(max=4)
    assert torch.equal(distance_px(mask, 3), expected)


@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_quantile_interpolates_as_torch_quantile(q):
    values = torch.rand(1001, generator=torch.Generator().manual_seed(7))
    assert quantile(values, q) == pytest.approx(float(torch.quantile(values, q)), abs=1e-7)
    assert quantile(values[:10], q) == pytest.approx(float(torch.quantile(values[:10], q)), abs=1e-7)

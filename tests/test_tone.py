"""sRGB transfer curve, highlight expansion and its inverse shoulder."""

import doctest

import torch

from bokehsim import tone


def test_srgb_round_trip_and_known_values():
    x = torch.linspace(0, 1, 4097, dtype=torch.float64)
    assert torch.allclose(tone.linear_to_srgb(tone.srgb_to_linear(x)), x, atol=1e-12)
    assert abs(float(tone.srgb_to_linear(torch.tensor(0.5, dtype=torch.float64))) - 0.21404114) < 1e-7
    assert float(tone.linear_to_srgb(torch.tensor(0.0031308, dtype=torch.float64))) == torch.tensor(0.0031308 * 12.92, dtype=torch.float64).item()


def test_shoulder_inverts_expansion_so_unblurred_pixels_come_back():
    rgb = torch.rand(3, 64, 64, dtype=torch.float64)
    rgb[:, :4] = 1.0  # clipped
    back = tone.compress_highlights(tone.expand_highlights(rgb, threshold=0.7, gain=8.0), threshold=0.7)
    assert torch.allclose(back[:, 4:], rgb[:, 4:], atol=1e-9)
    assert float((back[:, :4] - 1.0).abs().max()) < 1e-6  # 8 -> just below 1, rounds to 255


def test_expansion_keeps_hue_and_reaches_gain():
    orange = torch.tensor([1.0, 0.6, 0.2])[:, None, None]
    expanded = tone.expand_highlights(orange, threshold=0.7, gain=8.0)
    assert float(expanded.max()) == 8.0
    assert torch.allclose(expanded / expanded.max(), orange)


def test_shoulder_is_soft_monotonic_and_never_clips():
    x = torch.linspace(0, 5, 5001, dtype=torch.float64)
    y = tone.shoulder_curve(x, 0.7)
    assert torch.all(torch.diff(y) > 0)  # strictly increasing: no flat clipped region
    assert float(y.max()) < 1.0
    slope = torch.diff(y) / torch.diff(x)
    assert abs(float(slope[699]) - 1.0) < 1e-2 and abs(float(slope[700]) - 1.0) < 1e-2  # C1 at the knee


def test_doctests():
    assert doctest.testmod(tone).failed == 0

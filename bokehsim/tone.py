"""Tone: the sRGB transfer curve, highlight expansion before the blur and its soft shoulder after.

The article's rule, "curve before blur": an 8- or 16-bit photograph has its highlights clipped at 1.0,
so a lamp that was 20 times brighter than white is stored as white. Blurring that value spreads a
dull grey disc. bokehsim therefore *expands* values near 1.0 back into HDR before scattering, and
after compositing maps the result back through a *soft shoulder*. The shoulder is the exact inverse
of the expansion, so a pixel that is not blurred comes back unchanged (up to quantisation), while a
blurred bright source keeps its energy, stays bright and keeps its colour.

Both curves act on the largest channel and scale the pixel by a common factor, so hue and
saturation are preserved (a red neon stays red instead of going white).
"""

from __future__ import annotations

import math

import torch

from .backend import gpu_twin
from .errors import InputError

#: Default linear value above which the expansion starts (sRGB code value ~0.86).
DEFAULT_HIGHLIGHT_THRESHOLD = 0.7
#: Default linear brightness assigned to a fully clipped pixel (1.0 in the file).
DEFAULT_HIGHLIGHT_GAIN = 8.0


def srgb_to_linear(encoded: torch.Tensor) -> torch.Tensor:
    """Decode the IEC 61966-2-1 sRGB transfer curve. Values in [0, 1] map to [0, 1].

    Example:
        >>> round(srgb_to_linear(torch.tensor(0.5)).item(), 4)
        0.214
    """
    encoded = encoded.clamp(0.0, 1.0)
    return torch.where(encoded <= 0.04045, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Encode with the sRGB transfer curve; input is clipped to [0, 1] first."""
    linear = linear.clamp(0.0, 1.0)
    return torch.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1.0 / 2.4) - 0.055)


def check_curve(threshold: float, gain: float) -> None:
    """Raise :class:`InputError` unless ``0 < threshold < 1`` and ``gain >= 1`` (finite)."""
    if not 0.0 < threshold < 1.0:
        raise InputError(f"--highlight-threshold: expected a linear value in (0, 1), got {threshold}")
    if not (1.0 <= gain < math.inf):
        raise InputError(f"--highlight-gain: expected a finite linear value >= 1, got {gain}")


def shoulder_curve(x: torch.Tensor, threshold: float = DEFAULT_HIGHLIGHT_THRESHOLD) -> torch.Tensor:
    """The scalar shoulder S: identity below ``threshold``, then an exponential approach to 1.

    S(x) = t + (1 - t) * (1 - exp(-(x - t) / (1 - t))) for x > t: continuous with slope 1 at t,
    never reaching 1, so no value is hard-clipped.
    """
    t = threshold
    over = (x - t).clamp_min(0.0) / (1.0 - t)
    return torch.where(x > t, t + (1.0 - t) * -torch.expm1(-over), x)


def expansion_curve(
    x: torch.Tensor, threshold: float = DEFAULT_HIGHLIGHT_THRESHOLD, gain: float = DEFAULT_HIGHLIGHT_GAIN
) -> torch.Tensor:
    """The scalar expansion E = S^-1 on [0, 1], capped at ``gain`` (the brightness of a clipped pixel)."""
    t = threshold
    if gain <= t:
        return x
    # The largest input that expands to less than `gain`; 1.0 itself expands to `gain`.
    frac = ((x - t) / (1.0 - t)).clamp(0.0, 1.0)
    inverse = t - (1.0 - t) * torch.log1p(-frac.clamp(max=1.0 - 1e-12))
    return torch.where(x > t, inverse.clamp(max=gain), x).where(x < 1.0, torch.full_like(x, gain))


def _scale_by_peak(rgb: torch.Tensor, curve, channel_dim: int) -> torch.Tensor:
    """Apply a scalar curve to the largest channel and scale all channels by the same factor."""
    peak = rgb.amax(dim=channel_dim, keepdim=True)
    mapped = curve(peak)
    factor = torch.where(peak > 0, mapped / peak.clamp_min(1e-12), torch.ones_like(peak))
    return rgb * factor


def expand_highlights(
    rgb: torch.Tensor,
    *,
    threshold: float = DEFAULT_HIGHLIGHT_THRESHOLD,
    gain: float = DEFAULT_HIGHLIGHT_GAIN,
    channel_dim: int = -3,
) -> torch.Tensor:
    """Expand linear values near 1.0 back into HDR before blurring (for clipped 8/16-bit inputs).

    Args:
        rgb: linear colour, ``(..., C, H, W)`` with values in [0, 1].
        threshold: linear peak value where the expansion starts, in (0, 1).
        gain: linear value given to a fully clipped pixel (peak == 1.0); ``gain == 1`` disables.
        channel_dim: the channel dimension.

    Returns:
        Tensor like ``rgb`` with values in [0, gain]; hue is preserved.
    """
    check_curve(threshold, gain)
    if gain == 1.0:
        return rgb
    return _expand(rgb, threshold, gain, channel_dim)


@gpu_twin("tone_triton", "expand", when=lambda rgb, threshold, gain, channel_dim: _one_image(rgb, channel_dim))
def _expand(rgb: torch.Tensor, threshold: float, gain: float, channel_dim: int) -> torch.Tensor:
    return _scale_by_peak(rgb, lambda p: expansion_curve(p, threshold, gain), channel_dim)


def compress_highlights(
    rgb: torch.Tensor, *, threshold: float = DEFAULT_HIGHLIGHT_THRESHOLD, channel_dim: int = -3
) -> torch.Tensor:
    """Map linear HDR colour into [0, 1) through the soft shoulder; the inverse of the expansion."""
    check_curve(threshold, 1.0)
    return _compress(rgb, threshold, channel_dim)


@gpu_twin("tone_triton", "compress", when=lambda rgb, threshold, channel_dim: _one_image(rgb, channel_dim))
def _compress(rgb: torch.Tensor, threshold: float, channel_dim: int) -> torch.Tensor:
    return _scale_by_peak(rgb.clamp_min(0.0), lambda p: shoulder_curve(p, threshold), channel_dim)


def _one_image(rgb: torch.Tensor, channel_dim: int) -> bool:
    """A ``(C, H, W)`` fp32 image, the layout of the GPU twins (one pass instead of some twenty)."""
    return rgb.ndim == 3 and channel_dim in (0, -3) and rgb.dtype == torch.float32

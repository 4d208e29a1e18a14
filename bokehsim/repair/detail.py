"""Detail the lens forbids: found by ``diagnose``'s fine-pattern measure, removed by a low-pass.

A pasted pattern, a sharp patch or moire in a defocused region carries detail in bands the expected
blur does not pass (periods under ~2/3 of the CoC: see :mod:`bokehsim.diagnosis.sign_pattern`).
Re-rendering such a region with the lens's full blur is right only if everything under the pattern
was sharp; usually it is not (a pattern laid over an already blurred background), and the full blur
then blurs the background a second time. The missing-blur render has a second flaw there: a region
re-blurred among neighbours whose blur is right is rendered behind them (a larger CoC is farther),
so its blur is cut off at its border. A Gaussian low-pass whose width follows the expected CoC
(sigma = c / 6: the bands from a c px disc on are the forbidden ones) removes the forbidden bands and
changes an already blurred background little (its blur widens by about 20 %).
"""

from __future__ import annotations

import torch

from ..depth_refine import max_filter
from ..diagnosis.filters import gaussian_blur
from ..diagnosis.shot import depth_edges
from ..diagnosis.sign_pattern import BAND_SIGMAS_PX, NEIGHBOURHOOD_PX, patterned_band
from ..tone import linear_to_srgb

#: Low-pass width per px of expected CoC (see the module docstring).
SIGMA_PER_COC = 1.0 / 6.0
#: The Gaussian widths (px) blurred once each; a pixel blends the two that bracket its own width.
SIGMA_LADDER_PX = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)
#: The removal fades out over about this many px outside the detected pixels (no seam).
FEATHER_PX = 1.5


def forbidden_detail(image: torch.Tensor, expected_coc_px: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` int64: where the picture shows detail its expected blur forbids, the coarsest band
    it shows it in (:func:`~bokehsim.diagnosis.sign_pattern.patterned_band`), -1 elsewhere; grown by
    half of fine-pattern's neighbourhood (the detection keeps only the core of a patterned area)."""
    encoded = linear_to_srgb(image[:3].clamp(0, 1))
    coc = expected_coc_px.abs()
    band = patterned_band(encoded, expected_coc_px, depth_edges(coc, expected_coc_px))
    return max_filter(band.float(), NEIGHBOURHOOD_PX // 2).long()


def remove_forbidden_detail(image: torch.Tensor, expected_coc_px: torch.Tensor, band: torch.Tensor) -> torch.Tensor:
    """The picture low-passed where ``band`` >= 0 (feathered): sigma ``SIGMA_PER_COC * |c|``, or less
    where that much more than removes the forbidden bands found (twice the coarse bound of the
    coarsest: its detail falls under 1 %). A pattern of 2 px squares needs 2 px, not c / 6: the rims
    of the highlight discs under it stay sharp."""
    forbidden = band >= 0
    if not bool(forbidden.any()):
        return image
    weight = (2.0 * gaussian_blur(forbidden.float(), FEATHER_PX)).clamp(0.0, 1.0)
    weight = torch.where(forbidden, 1.0, weight)
    coarsest = max_filter(band.float(), 2 * int(FEATHER_PX) + 1).long().clamp_min(0)  # the feather's too
    enough = 2.0 * torch.tensor(BAND_SIGMAS_PX[1:])[coarsest]
    sigma = torch.minimum(expected_coc_px.abs() * SIGMA_PER_COC, enough)
    # Only the window around the region is blurred (plus the widest kernel's reach): a pattern is
    # usually a small part of the frame, and each rung is a full-image convolution otherwise.
    ys, xs = torch.nonzero(weight > 0, as_tuple=True)
    reach = 3 * int(float(sigma[ys, xs].max().clamp(max=SIGMA_LADDER_PX[-1]))) + 2
    top, left = max(0, int(ys.min()) - reach), max(0, int(xs.min()) - reach)
    bottom, right = int(ys.max()) + reach + 1, int(xs.max()) + reach + 1
    window = (..., slice(top, bottom), slice(left, right))
    out = image.clone()
    smoothed = lowpass_by_coc(image[window], sigma[window[1:]])
    out[window] = image[window] + weight[window[1:]] * (smoothed - image[window])
    return out


def lowpass_by_coc(image: torch.Tensor, sigma_px: torch.Tensor) -> torch.Tensor:
    """``(C, H, W)`` blurred by a Gaussian whose width ``sigma_px`` ``(H, W)`` varies per pixel: the
    blend of the two bracketing rungs of ``SIGMA_LADDER_PX`` (widths beyond the last get the last)."""
    ladder = torch.tensor(SIGMA_LADDER_PX)
    sigma = sigma_px.clamp(0.0, SIGMA_LADDER_PX[-1])
    upper = torch.bucketize(sigma, ladder).clamp(1, len(SIGMA_LADDER_PX) - 1)
    share = (sigma - ladder[upper - 1]) / (ladder[upper] - ladder[upper - 1])
    out = torch.zeros_like(image)
    for rung in torch.unique(torch.cat([upper - 1, upper])).tolist():
        weight = torch.where(upper == rung, share, 0.0) + torch.where(upper - 1 == rung, 1.0 - share, 0.0)
        if bool((weight > 0).any()):
            out += weight * gaussian_blur(image, SIGMA_LADDER_PX[rung])
    return out

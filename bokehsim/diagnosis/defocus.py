"""Measured blur: a defocus map estimated from the image alone (no depth, no lens).

The estimator is the re-blur gradient ratio of Zhuo & Sim (2011) with adaptive scale selection in
the spirit of Karaali & Jung (2018), on an image pyramid:

* At an edge blurred by a Gaussian of width ``s_e``, the gradient magnitude after a further Gaussian
  of width ``s`` is ``A / sqrt(2 pi (s_e^2 + s^2))``. The ratio ``R`` of the magnitudes at two
  scales ``s1 < s2`` therefore gives ``s_e^2 = (s2^2 - R^2 s1^2) / (R^2 - 1)``.
* The ratio is well conditioned only while ``s_e`` is near ``s1, s2``. Rather than widening the
  scales, each pyramid level (the image halved ``L`` times) measures with the same ``s1 = 1``,
  ``s2 = 2`` level pixels, so level ``L`` reads blurs near ``2^L`` pixels; every edge keeps the
  estimate of the level where it is best conditioned.
* Edges are the local maxima of the gradient along its direction (non-maximum suppression); flat
  regions have no edges and no estimate (confidence 0).
* The Gaussian width is turned into a CoC diameter (a disc, CONVENTIONS) by a table calibrated on
  bokehsim's own renders of step edges of known CoC (see ``CALIBRATION_SIGMA_PX``).

The sparse edge estimates are spread into a dense map by push-pull interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..composite import push_pull
from ..depth_refine import _box_mean, max_filter, min_filter
from ..errors import InputError
from ..tone import linear_to_srgb, srgb_to_linear
from .components import blobs, fit_ellipse, half_maximum_blob
from .filters import gaussian_blur, gradients, luminance

#: The two measuring scales in level pixels (Gaussian sigma).
SIGMA_FINE = 1.0
SIGMA_COARSE = 2.0
#: A level's reading is kept while its edge width lies in this range of level pixels; above it the
#: next level, where the same blur is half as wide, reads it better.
LEVEL_SIGMA_RANGE = (0.0, 2.5)
#: The smallest picture side (px) the estimate reads.
MIN_SIDE_PX = 8
#: Readings this close to the frame's border (level px) are dropped.
BORDER_PX = 4
#: Smallest frame side of the coarsest level.
MIN_LEVEL_SIDE_PX = 24
#: Edge contrast (step height over the local mean level) at which confidence reaches 1.
FULL_CONFIDENCE_CONTRAST = 0.25
#: An edge reading below STRONG_CONTRAST (step over local level) needs a gradient this many
#: times its neighbourhood's mean gradient (a window of 2 * ISOLATION_RADIUS_PX + 1 level px):
#: a lone straight edge reaches about 4.
STRONG_CONTRAST = 0.3
MIN_ISOLATION = 2.5
ISOLATION_RADIUS_PX = 6
#: Smallest step an edge reading needs, in sRGB-encoded units (8 codes of 255).
MIN_STEP_SRGB = 8 / 255
#: An edge must rise this many noise standard deviations above the noise to be measured.
MIN_SNR = 6.0

#: A highlight: at least this share of its brightness lies in a structure narrower than
#: 2 * HIGHLIGHT_RADIUS_PX + 1 px (bright or dim: dim discs have sharp rims too), above the
#: near-black floor HIGHLIGHT_LEVEL (linear). In a lit scene that is 1.5 stops over the darkest
#: level around it: at half (one stop) a texture's bright stripes or blobs over its darker ones
#: passed as highlights and lost their readings (most of a sharp striped background, 12-49 % of
#: the ground-truth scenes' frames). Where the surround is dark (its mean over the same window
#: below DARK_SURROUND_LEVEL, linear: sRGB code 38) a structure twice as bright as the darkest
#: level is a light or its glow, whose rim says nothing of the blur: there the share stays
#: DARK_SURROUND_SHARE (at 0.65 everywhere, a night portrait's clean render read as blur that
#: ignores distance).
HIGHLIGHT_SHARE = 0.65
DARK_SURROUND_SHARE = 0.5
DARK_SURROUND_LEVEL = 0.02
HIGHLIGHT_RADIUS_PX = 20
HIGHLIGHT_LEVEL = 0.002
#: A channel at or above this linear value is clipped (8-bit 252 and up).
CLIPPED_LEVEL = 0.97
#: Readings within this many px of a highlight or a clipped pixel are dropped.
RIM_PX = 4

#: Calibration: measured Gaussian edge width (px) -> CoC diameter (px) of a disc blur, from
#: bokehsim renders of a bright disc's step edges at known CoC, 8-bit (tests/test_diagnose_defocus.py
#: checks it at 4, 10 and 20 px). Between rows the map is linear; beyond the last row it extends
#: with the last slope.
#: Below 0.75 px an edge is as sharp as an 8-bit, pixel-sampled image can show (the
#: measuring scales' own width and the pixel footprint are in the reading).
CALIBRATION_SIGMA_PX = (0.0, 0.75, 0.96, 1.10, 1.34, 2.0, 4.0, 8.0, 16.0)
CALIBRATION_COC_PX = (0.0, 0.0, 2.0, 3.0, 4.0, 6.1, 12.1, 24.4, 49.5)


@dataclass
class DefocusEstimate:
    """The blur an image shows, measured from the image alone.

    Attributes:
        coc_px: ``(H, W)`` unsigned CoC diameter in pixels (>= 0), dense (interpolated between edges).
        confidence: ``(H, W)`` in [0, 1]: 0 in flat regions far from any measured edge.
        edge_coc_px: ``(H, W)`` the CoC measured at edge pixels, NaN elsewhere (the sparse readings
            the dense map is spread from).
        edge_confidence: ``(H, W)`` in [0, 1], the weight of each edge reading (0 off edges).
    """

    coc_px: torch.Tensor
    confidence: torch.Tensor
    edge_coc_px: torch.Tensor
    edge_confidence: torch.Tensor


def estimate_defocus(image_linear: torch.Tensor, *, spread_sigma_px: float = 4.0) -> DefocusEstimate:
    """Estimate the defocus blur (CoC diameter in pixels) of an image from the image alone.

    Args:
        image_linear: ``(3, H, W)`` or ``(1, H, W)`` linear-light image (decode sRGB first), finite.
        spread_sigma_px: width (px) of the neighbourhood where one edge reading lends confidence.

    Returns:
        A :class:`DefocusEstimate` with ``(H, W)`` maps on the image's device.

    Raises:
        InputError: the image is not ``(C, H, W)`` with C 1 or 3, or smaller than 8 px.

    Example:
        >>> edge = torch.zeros(1, 32, 96); edge[:, :, 48:] = 0.8
        >>> est = estimate_defocus(edge)
        >>> est.coc_px.shape, bool(est.edge_confidence[:, 47:49].max() > 0)
        (torch.Size([32, 96]), True)
    """
    _check_image(image_linear)
    plane = luminance(image_linear.float())
    edge_sigma = torch.full_like(plane, math.nan)
    edge_weight = torch.zeros_like(plane)
    noise_srgb = grain_srgb(plane)
    level, scale = plane, 1
    while min(level.shape) >= MIN_LEVEL_SIDE_PX:
        coarsest = min(level.shape) < 2 * MIN_LEVEL_SIDE_PX
        sigma_level, weight = _level_edges(level, linear_noise(level, noise_srgb) / scale, top=coarsest)
        _merge_level(edge_sigma, edge_weight, sigma_level, weight, scale)
        level, scale = F.avg_pool2d(level[None], 2)[0], scale * 2
    edge_weight = edge_weight * ~highlight_rims(image_linear.float(), plane)
    edge_coc = torch.where(edge_weight > 0, coc_from_edge_sigma(edge_sigma), math.nan)
    known = edge_weight > 0
    dense = push_pull(torch.where(known, edge_coc, 0.0)[None], edge_weight)[0]
    # A straight edge of full weight blurred by a Gaussian peaks at 1 / (sqrt(2 pi) sigma): scale that to 1.
    support = gaussian_blur(edge_weight, spread_sigma_px) * math.sqrt(2 * math.pi) * spread_sigma_px
    return DefocusEstimate(
        coc_px=dense.clamp_min(0.0), confidence=support.clamp(0.0, 1.0),
        edge_coc_px=edge_coc, edge_confidence=edge_weight,
    )


def highlight_rims(image_linear: torch.Tensor, plane: torch.Tensor) -> torch.Tensor:
    """Pixels on or next to small bright highlights and clipped pixels: ``(H, W)`` bool.

    A defocused point light is a copy of the aperture: its rim is the aperture's edge, sharp at
    any CoC; and clipping flattens a blurred highlight's top into a sharp knee. Edge readings there
    say nothing about the defocus. A highlight is a bright structure narrower than
    ``2 * HIGHLIGHT_RADIUS_PX + 1`` px: a grey-scale opening of that size removes most of it.

    Args:
        image_linear: ``(C, H, W)`` linear image; ``plane`` its ``(H, W)`` luminance.
    """
    opened = max_filter(min_filter(plane, HIGHLIGHT_RADIUS_PX), HIGHLIGHT_RADIUS_PX)
    dark = _box_mean(plane[None], HIGHLIGHT_RADIUS_PX)[0] < DARK_SURROUND_LEVEL
    share = torch.where(dark, DARK_SURROUND_SHARE, HIGHLIGHT_SHARE)
    bright = ((plane - opened > share * plane) & (plane > HIGHLIGHT_LEVEL)).float()
    # The square opening also shaves thin slivers off the curved outline of any large bright
    # shape: a second, binary opening keeps only blobs at least 5 px across.
    bright = max_filter(min_filter(bright, 2), 2) > 0
    bright |= image_linear.amax(0) >= CLIPPED_LEVEL
    return max_filter(bright, RIM_PX)  # bool: grown by RIM_PX


#: Bokeh discs: blobs at least DISC_SEED_RATIO times as bright as the darkest level around them
#: (over a radius of 0.6 of the largest diameter looked for, so a disc's own interior never sets it),
#: flat-topped: at least FLAT_SHARE of the blob lies within the top eighth of its height above its
#: outline (a disc of diameter D with a 1 px rim: 1 - 4 / D; the night scenes' discs 0.6-0.9; a
#: Gaussian blob 0.19; the bright spots of fix's generated textures at most 0.44).
DISC_SEED_RATIO = 3.0
FLAT_SHARE = 0.55


def disc_diameters(image_linear: torch.Tensor, largest_px: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(H, W)``: over each isolated bokeh disc (grown by ``RIM_PX``), its diameter in px; 0
    elsewhere; and the ``(H, W)`` bool footprint (grown alike) of the other highlights, such as
    discs that overlap.

    A defocused small light is a copy of the aperture, as wide as its CoC (plus the light's own
    size): a direct reading of the blur where edge readings fail (its rim is sharp at any CoC, and a
    night background has no other edges). A disc is a blob far brighter than the dark around it
    whose outline at half its height is a filled, flat-topped ellipse (overlapping discs are not, nor
    a texture's bright spot); its diameter is that of the disc of the same area. A sharp round lamp
    reads the same: callers bound the reading by the blur they expect.

    Args:
        image_linear: ``(C, H, W)`` linear colour.
        largest_px: the largest diameter looked for (px).
    """
    lum = luminance(image_linear.float())
    radius = max(4, math.ceil(0.6 * largest_px))
    dark = _box_mean(min_filter(lum, radius)[None], radius)[0].clamp_min(HIGHLIGHT_LEVEL)
    diameters, others = torch.zeros_like(lum), torch.zeros_like(lum)
    for ys, xs in blobs(lum > DISC_SEED_RATIO * dark):
        ys, xs = half_maximum_blob(lum, ys, xs)
        if ys.numel() == 0:
            continue
        values, diameter = lum[ys, xs], 2.0 * math.sqrt(ys.numel() / math.pi)
        low, top = float(values.min()), float(values.quantile(0.95))
        flat = float((values >= low + 0.75 * (top - low)).float().mean())
        disc = (ys.numel() <= math.pi * largest_px**2 / 4 and flat >= FLAT_SHARE
                and fit_ellipse(ys, xs, lum.shape) is not None)
        y0, x0 = max(0, int(ys.min()) - RIM_PX), max(0, int(xs.min()) - RIM_PX)
        window = (slice(y0, int(ys.max()) + RIM_PX + 1), slice(x0, int(xs.max()) + RIM_PX + 1))
        footprint = torch.zeros(diameters[window].shape)
        footprint[ys - y0, xs - x0] = 1.0
        grown = max_filter(footprint, RIM_PX) > 0
        if disc:
            diameters[window][grown] = diameter
        else:
            others[window][grown] = 1.0
    return diameters, others > 0


def _check_image(image_linear: torch.Tensor) -> None:
    if image_linear.ndim != 3 or image_linear.shape[0] not in (1, 3):
        raise InputError(f"image: expected shape (3, H, W) or (1, H, W), got {tuple(image_linear.shape)}")
    if min(image_linear.shape[1:]) < MIN_SIDE_PX:
        raise InputError(f"image: expected at least {MIN_SIDE_PX}x{MIN_SIDE_PX} px, got {image_linear.shape[2]}x{image_linear.shape[1]}")


def noise_sigma(plane: torch.Tensor) -> float:
    """Noise standard deviation of an ``(H, W)`` map from the median absolute Laplacian (robust to edges)."""
    laplacian = 4 * plane[1:-1, 1:-1] - plane[:-2, 1:-1] - plane[2:, 1:-1] - plane[1:-1, :-2] - plane[1:-1, 2:]
    return noise_from_laplacian(laplacian)


def noise_from_laplacian(laplacian: torch.Tensor) -> float:
    """The standard deviation of white noise whose 4-neighbour Laplacian has these values' median
    absolute value: that Laplacian of noise of std ``s`` has std ``sqrt(20) s``, and its median
    absolute value is 0.6745 times that (0 for no values)."""
    if laplacian.numel() == 0:
        return 0.0
    return float(laplacian.abs().median()) / (0.6745 * math.sqrt(20.0))


def grain_srgb(light: torch.Tensor) -> float:
    """A picture's grain: the noise of its ``(H, W)`` linear luma once sRGB-encoded, where cameras and
    generators leave it about even across levels (:func:`linear_noise`)."""
    return noise_sigma(linear_to_srgb(light.clamp(0, 1)))


def linear_noise(level: torch.Tensor, noise_srgb: float) -> torch.Tensor:
    """``(H, W)``: the picture's noise, read in sRGB (where cameras and generators leave it about
    even across levels), as linear light at each pixel's level: the decoding's slope there times it.
    Read in linear light over the whole frame, the noise is the dark regions' (far smaller than the
    same sRGB grain in the bright ones), and the bright regions' grain passed as edges, sharp ones:
    the clean renders with 8 codes of grey grain were flagged 7 times in 16, 4 with this."""
    return noise_srgb * srgb_decoding_slope(gaussian_blur(level, 2.0))


def srgb_decoding_slope(level: torch.Tensor) -> torch.Tensor:
    """d(linear) / d(sRGB) at each linear ``level``: what one sRGB unit of grain is in linear light
    there (1 / 12.92 at black, about 2.2 times the level's sRGB code over the code near white)."""
    step = 1e-3
    encoded = linear_to_srgb(level.clamp(0, 1)).clamp(step, 1 - step)
    return (srgb_to_linear(encoded + step) - srgb_to_linear(encoded - step)) / (2 * step)


def _level_edges(level: torch.Tensor, noise: torch.Tensor, *, top: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Edge width (Gaussian sigma, level px) and reading weight at the edges of one pyramid level;
    ``noise`` is the ``(H, W)`` noise (std, linear) at each pixel."""
    fine = gaussian_blur(level, SIGMA_FINE)
    coarse = gaussian_blur(fine, math.sqrt(SIGMA_COARSE**2 - SIGMA_FINE**2))
    gx, gy = gradients(fine)
    magnitude_fine = torch.hypot(gx, gy)
    magnitude_coarse = torch.hypot(*gradients(coarse))
    ratio_sq = (magnitude_fine / magnitude_coarse.clamp_min(1e-12)) ** 2
    sigma_sq = (SIGMA_COARSE**2 - ratio_sq * SIGMA_FINE**2) / (ratio_sq - 1).clamp_min(1e-6)
    sigma = sigma_sq.clamp_min(0.0).sqrt()
    # Step height: the fine-scale peak gradient times the Gaussian's peak-to-area factor.
    step = magnitude_fine * math.sqrt(2 * math.pi) * torch.sqrt(sigma_sq.clamp_min(0) + SIGMA_FINE**2)
    local_level = coarse.abs() + 0.02
    # The gradient of noise of std s after a Gaussian of width 1 has about 0.2 s per axis.
    strong = magnitude_fine > MIN_SNR * 0.2 * noise + 1e-4
    contrast = step / local_level
    # As a viewer sees it: a step of a few 8-bit codes is quantisation and grain, not an edge.
    level_mean = coarse.clamp_min(0)
    step_srgb = linear_to_srgb(level_mean + step / 2) - linear_to_srgb((level_mean - step / 2).clamp_min(0))
    strong &= step_srgb >= MIN_STEP_SRGB
    # Faint edges count only where they stand out of their neighbourhood's mean gradient: grain
    # and blurred noise (a disc blur keeps faint ripples of fine texture, with steep sides) do not.
    isolated = magnitude_fine >= MIN_ISOLATION * _box_mean(magnitude_fine[None], ISOLATION_RADIUS_PX)[0]
    distinct = isolated | (contrast >= STRONG_CONTRAST)
    high = math.inf if top else LEVEL_SIGMA_RANGE[1]
    usable = _ridge(magnitude_fine, gx, gy) & strong & distinct & (ratio_sq > 1.0) & (sigma <= high)
    weight = (contrast / FULL_CONFIDENCE_CONTRAST).clamp(0.0, 1.0) * usable
    return torch.where(usable, sigma, math.nan), weight


def _ridge(magnitude: torch.Tensor, gx: torch.Tensor, gy: torch.Tensor) -> torch.Tensor:
    """Non-maximum suppression: pixels whose gradient magnitude is a maximum along the gradient
    (its direction rounded to the nearest of the four neighbour axes)."""
    padded = F.pad(magnitude[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
    height, width = magnitude.shape
    ax, ay = gx.abs(), gy.abs()
    tan_22_5 = math.tan(math.pi / 8)
    horizontal, vertical = ay <= tan_22_5 * ax, ax <= tan_22_5 * ay
    falling = (gx * gy) < 0  # the gradient runs along the anti-diagonal
    keep = torch.zeros_like(magnitude, dtype=torch.bool)
    for select, (dy, dx) in (
        (horizontal, (0, 1)), (vertical, (1, 0)),
        (~horizontal & ~vertical & ~falling, (1, 1)), (~horizontal & ~vertical & falling, (1, -1)),
    ):
        ahead = padded[1 + dy: 1 + dy + height, 1 + dx: 1 + dx + width]
        behind = padded[1 - dy: 1 - dy + height, 1 - dx: 1 - dx + width]
        keep |= select & (magnitude >= ahead) & (magnitude > behind)
    return keep


def _merge_level(edge_sigma: torch.Tensor, edge_weight: torch.Tensor, sigma_level: torch.Tensor,
                 weight: torch.Tensor, scale: int) -> None:
    """Write one level's readings (in full-resolution px) at the centres of their blocks, in place,
    where the finer levels read nothing within a block.

    A block of ``scale`` px is pooled ``log2(scale)`` times; box pooling adds ``(scale^2 - 1) / 12``
    px^2 of blur variance, which is taken off. A coarse level fills in what the finer ones could not
    read (a blur too wide for them, or an edge too faint in their noise); an edge they did read is
    theirs: the coarse reading lands up to a block away from it, and of a sharp edge split by the
    pooling it reads a blur that is not there (a crisp reading on the blurred background beside a
    sharp subject, 3-4 px from a thin pole; a soft one on the subject's own outline).
    """
    # Readings next to the frame's border see the padding, not the picture: drop them.
    inner = torch.zeros_like(weight, dtype=torch.bool)
    inner[BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = True
    ys, xs = torch.nonzero((weight > 0) & inner, as_tuple=True)
    if ys.numel() == 0:
        return
    sigma_full_sq = (sigma_level[ys, xs] * scale) ** 2 - (scale**2 - 1) / 12.0
    ys_full = (ys * scale + scale // 2).clamp(max=edge_sigma.shape[0] - 1)
    xs_full = (xs * scale + scale // 2).clamp(max=edge_sigma.shape[1] - 1)
    free = ~max_filter(edge_weight > 0, scale - 1)[ys_full, xs_full]
    ys_full, xs_full = ys_full[free], xs_full[free]
    edge_sigma[ys_full, xs_full] = sigma_full_sq[free].clamp_min(0).sqrt()
    edge_weight[ys_full, xs_full] = weight[ys, xs][free]


def coc_from_edge_sigma(sigma_px: torch.Tensor) -> torch.Tensor:
    """CoC diameter (px) of the disc blur that shows a measured Gaussian edge width (px); NaN stays NaN.

    Example:
        >>> [round(v, 2) for v in coc_from_edge_sigma(torch.tensor([0.5, 2.0, 32.0])).tolist()]
        [0.0, 6.1, 99.7]
    """
    table_sigma = torch.tensor(CALIBRATION_SIGMA_PX, dtype=sigma_px.dtype, device=sigma_px.device)
    table_coc = torch.tensor(CALIBRATION_COC_PX, dtype=sigma_px.dtype, device=sigma_px.device)
    index = torch.searchsorted(table_sigma, sigma_px.clamp_min(0).nan_to_num(0.0).contiguous())
    index = index.clamp(1, len(table_sigma) - 1)
    low_s, high_s = table_sigma[index - 1], table_sigma[index]
    low_c, high_c = table_coc[index - 1], table_coc[index]
    coc = low_c + (sigma_px - low_s) * (high_c - low_c) / (high_s - low_s)
    return torch.where(sigma_px.isnan(), math.nan, coc)

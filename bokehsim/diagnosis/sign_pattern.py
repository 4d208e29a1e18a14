"""``fine-pattern``: detail or moire surviving where the expected blur forbids it.

A disc blur of diameter c removes (to under 1 % of the energy) every frequency above about 1.6 / c
cycles per pixel. So, in regions the shot defocuses, away from depth edges (a depth edge's sharp near
side is legitimate), each band of a Laplacian-like pyramid of the sRGB luminance is checked where the
expected CoC forbids it: the finest band (periods under ~4 px) from c = 6 px, the next from 12 px,
the next from 24 px. A pixel is *patterned* where the band's local energy stands well above that
band's floor in the same defocused region (its lower quartile, plus two 8-bit codes), and the
energy is texture-like rather than one edge: either its orientations disagree (checkers, noise,
pasted texture) or it has no matching energy two octaves coarser (a grating or moire riding on a
smooth background). The one sharp thing a physical blur keeps, the rim of a defocused highlight
disc, is a single coherent edge with coarse energy behind it, so it is not counted. Patterned pixels
count only where they fill most of an 11 px neighbourhood (a pattern is an area; rims are lines).

The statistic is the patterned area, per mille of the frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .filters import gaussian_blur, luminance, orientation_coherence
from .shot import dilate, hot_box
from .signs import Evidence, SignResult, severity_from_raw

#: Raw statistic (patterned area, per mille of the frame) at the flag threshold: none of the 32
#: clean renders of the evaluation shows any; a 12 x 12 px patch in a 480 x 320 frame is 1 per mille.
RAW_AT_FLAG = 0.5
#: The expected CoC (px) from which a region counts as defocused, for the finest band and the next two.
BAND_FORBIDDEN_FROM_PX = (6.0, 12.0, 24.0)
#: The Gaussian widths (px) that bound the bands: band k lies between widths k and k + 1.
BAND_SIGMAS_PX = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)
#: A band's energy counts as excess above this multiple of its floor plus ABSOLUTE_FLOOR^2.
FLOOR_FACTOR = 8.0
ABSOLUTE_FLOOR = 2.0 / 255.0
#: Below this orientation coherence the energy is texture-like (not one edge).
TEXTURE_COHERENCE = 0.5
#: A grating: this many times the energy of the band two octaves coarser.
GRATING_RATIO = 4.0
#: Share of an 11 px neighbourhood that must be patterned.
AREA_SHARE = 0.8
NEIGHBOURHOOD_PX = 11
#: The expected CoC (px) from which a region counts as defocused; ``absent-distance`` uses it too.
DEFOCUSED_PX = 4.0
#: A reading is "too sharp" below this fraction of the expected CoC and below SHARP_PX: a blur
#: can look narrower than it is where features are smaller than it, but never a crisp edge.
SHARP_FRACTION = 0.25
SHARP_PX = 2.5


def too_sharp(measured_px: torch.Tensor, expected_px: torch.Tensor) -> torch.Tensor:
    """Edge readings far sharper than a defocused region allows (bool, like the inputs)."""
    return (expected_px >= DEFOCUSED_PX) & (measured_px < (SHARP_FRACTION * expected_px).clamp(max=SHARP_PX))


def patterned_pixels(image_srgb: torch.Tensor, expected_px: torch.Tensor, depth_edge: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: pixels whose fine detail the expected blur forbids (see the module docstring)."""
    height, width = expected_px.shape
    y = luminance(image_srgb)
    blurred = [gaussian_blur(y, sigma) for sigma in BAND_SIGMAS_PX]
    energy = [gaussian_blur((fine - coarse) ** 2, max(1.0, sigma))
              for fine, coarse, sigma in zip(blurred, blurred[1:], BAND_SIGMAS_PX[1:])]
    region = ~dilate(depth_edge, max(2, int(float(expected_px.max()) / 2)))
    border = torch.zeros_like(region)
    border[8:-8, 8:-8] = True
    region &= border
    texture_like = orientation_coherence(y) < TEXTURE_COHERENCE
    patterned = torch.zeros_like(region)
    for band, forbidden_from in enumerate(BAND_FORBIDDEN_FROM_PX):
        checked = region & (expected_px >= forbidden_from)
        if int(checked.sum()) < 50:
            continue
        floor = float(energy[band][checked].quantile(0.25))
        excess = checked & (energy[band] > FLOOR_FACTOR * floor + ABSOLUTE_FLOOR**2)
        patterned |= excess & (texture_like | (energy[band] > GRATING_RATIO * energy[band + 2]))
    share = F.avg_pool2d(patterned.float()[None, None], NEIGHBOURHOOD_PX, 1, NEIGHBOURHOOD_PX // 2,
                         count_include_pad=False)[0, 0]
    return patterned & (share >= AREA_SHARE)


def fine_pattern(evidence: Evidence) -> SignResult:
    """Measure the ``fine-pattern`` sign (see the module docstring)."""
    patterned = patterned_pixels(evidence.image_srgb, evidence.expected_px, evidence.shot.depth_edge)
    raw = 1000.0 * float(patterned.float().mean())
    heat = gaussian_blur(patterned.float(), 4.0)
    heat = heat / heat.max().clamp_min(1e-6)
    return SignResult("fine-pattern", severity_from_raw(raw, RAW_AT_FLAG), heat, hot_box(heat, share=0.25),
                      f"{int(patterned.sum())} px of detail the expected blur forbids ({raw:.2f} per mille of the frame)")

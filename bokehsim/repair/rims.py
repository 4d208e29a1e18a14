"""Cut-out rims: subject colour or a light halo smeared into the background around the subject.

A subject pasted on a plate that was blurred *with* the subject still in it carries a rim: the
plate's pixels next to the subject hold a share of the subject's colour, decaying with distance. A
physical render has none (an in-focus subject never spreads into the background behind it,
CONVENTIONS "Compositing"). The rim is measured ring by ring (pixels at the same distance from the
subject) against a fill of the band from the background beyond it:

* **Subject colour**: in each ring, the share ``a`` of subject colour (push-pull of the subject's
  outline) over the fill, by least squares; removed where it is significant and positive.
* **Any other halo** (a light or dark glow): what is left, the ring's mean offset from the fill per
  channel, removed where it is significant.

A ring statistic is significant when it is more than :data:`SIGNIFICANCE` standard errors from zero,
so a clean render (whose band differs from the fill only by its own blurred detail, which averages
out over a ring) is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..composite import push_pull
from .protect import dilate, distance_px

#: Standard errors a ring's rim share or offset must exceed to be removed.
SIGNIFICANCE = 4.0
#: The rim of a plate blurred with CoC b reaches about this many b from the subject (a Gaussian of
#: sigma b/4 falls below 5 % of its peak past 2.5 sigma).
RIM_REACH_PER_COC = 0.65
#: Smallest and largest band width in px.
MIN_BAND_PX, MAX_BAND_PX = 3, 48
#: A ring needs this many pixels for its statistics.
MIN_RING_PIXELS = 32


@dataclass
class RimResult:
    """The image with rims removed and what was removed.

    Attributes:
        image: ``(C, H, W)`` linear colour.
        band_px: the band width examined.
        subject_share: per ring (distance 1..band) the share of subject colour removed.
        offset: per ring the mean offset removed, ``(band, C)`` as nested lists.
    """

    image: torch.Tensor
    band_px: int
    subject_share: list[float]
    offset: list[list[float]]

    def stats(self) -> dict:
        return {"band_px": self.band_px, "max_subject_share": round(max(self.subject_share, default=0.0), 4),
                "max_offset": round(max((abs(v) for ring in self.offset for v in ring), default=0.0), 5),
                "rings_changed": sum(1 for s, o in zip(self.subject_share, self.offset) if s > 0 or any(o))}


def band_width_px(existing_coc_px: torch.Tensor, protected: torch.Tensor) -> int:
    """How far from the subject to look for a rim: the plate's blur next to the subject sets it."""
    near = dilate(protected, 8) & ~protected
    if not bool(near.any()):
        return MIN_BAND_PX
    blur = float(existing_coc_px[near].median())
    return int(min(MAX_BAND_PX, max(MIN_BAND_PX, round(RIM_REACH_PER_COC * blur + 2))))


def remove_rims(image: torch.Tensor, protected: torch.Tensor, existing_coc_px: torch.Tensor) -> RimResult:
    """Remove subject-coloured and other rims from the background next to the subject.

    Args:
        image: ``(C, H, W)`` linear colour.
        protected: ``(H, W)`` bool, the subject (:func:`~bokehsim.repair.protect.subject_mask`).
        existing_coc_px: ``(H, W)`` the blur the image already shows, CoC px (>= 0).

    Returns:
        :class:`RimResult`; the subject's pixels are unchanged.
    """
    band = band_width_px(existing_coc_px, protected)
    distance = distance_px(protected, band)
    if not bool(protected.any()) or not bool((distance > band).any()):
        return RimResult(image, band, [], [])
    beyond = (distance > band).float()
    fill = push_pull(image, beyond)
    outline = protected & (distance_px(~protected, 2) <= 2)
    subject = push_pull(image, outline.float())
    toward = subject - fill
    cleaned = image.clone()
    shares, offsets = [], []
    for ring in range(1, band + 1):
        where = distance == ring
        share, offset = _ring_rim(image[:, where], fill[:, where], toward[:, where])
        cleaned[:, where] = image[:, where] - share * toward[:, where] - offset[:, None]
        shares.append(share)
        offsets.append([round(float(v), 6) for v in offset])
    return RimResult(cleaned, band, shares, offsets)


def _ring_rim(pixels: torch.Tensor, fill: torch.Tensor, toward: torch.Tensor) -> tuple[float, torch.Tensor]:
    """The significant subject share and offset of one ring's ``(C, n)`` pixels (0 when not significant)."""
    channels, count = pixels.shape
    none = torch.zeros(channels, dtype=pixels.dtype)
    if count < MIN_RING_PIXELS:
        return 0.0, none
    residual = pixels - fill
    # Least-squares share of subject colour, pooled over the ring; its standard error from the scatter
    # of per-pixel shares weighted the same way.
    power = (toward * toward).sum(0)
    share = float((residual * toward).sum() / power.sum().clamp_min(1e-12))
    per_pixel = (residual * toward).sum(0) / power.clamp_min(1e-12)
    spread = float(((per_pixel - share) ** 2 * power).sum() / power.sum().clamp_min(1e-12)) ** 0.5
    share = share if share > SIGNIFICANCE * spread / count**0.5 else 0.0
    share = min(share, 1.0)
    left = residual - share * toward
    mean = left.mean(1)
    error = left.std(1) / count**0.5
    offset = torch.where(mean.abs() > SIGNIFICANCE * error, mean, none)
    return share, offset

"""The thumbnail check: does the subject still stand out from the background at thumbnail size?"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Long side of the thumbnail in px (a file explorer's large icon).
THUMBNAIL_PX = 128


def thumbnail_separation(image_srgb: torch.Tensor, subject: torch.Tensor, background: torch.Tensor) -> float | None:
    """Separation of subject and background at thumbnail size (d', 0 = indistinguishable).

    The image and both masks are area-averaged to ``THUMBNAIL_PX`` on the long side; the separation
    is the distance between the subject's and the background's mean sRGB colours over their pooled
    standard deviation. Above about 1 the subject stands out; below 0.5 it melts into the background.

    Args:
        image_srgb: ``(3, H, W)`` sRGB-encoded colour in [0, 1].
        subject: ``(H, W)`` bool, the in-focus region.
        background: ``(H, W)`` bool, the defocused region.

    Returns:
        The separation (>= 0), or None when either region vanishes at thumbnail size.

    Example:
        >>> img = torch.zeros(3, 64, 64); img[:, :, 32:] = 1.0
        >>> s = torch.zeros(64, 64, dtype=torch.bool); s[:, 40:] = True
        >>> thumbnail_separation(img, s, ~s) > 1
        True
    """
    height, width = subject.shape
    scale = THUMBNAIL_PX / max(height, width)
    size = (max(1, round(height * scale)), max(1, round(width * scale))) if scale < 1 else (height, width)
    small = F.interpolate(image_srgb[None], size=size, mode="area")[0].flatten(1)
    masks = F.interpolate(torch.stack([subject, background]).float()[None], size=size, mode="area")[0].flatten(1)
    subject_px, background_px = small[:, masks[0] > 0.5], small[:, masks[1] > 0.5]
    if subject_px.shape[1] < 4 or background_px.shape[1] < 4:
        return None
    distance = float((subject_px.mean(1) - background_px.mean(1)).norm())
    spread = math.sqrt((float(subject_px.var(1).sum()) + float(background_px.var(1).sum())) / 2)
    return distance / max(spread, 1e-3)

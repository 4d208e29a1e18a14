"""The overlay picture: each flagged sign's heat map, box and label drawn over the image."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..tone import linear_to_srgb
from .report import Report

#: One colour per sign (sRGB 0..255), distinct on photographs.
SIGN_COLOURS = {
    "cutout": (255, 64, 64),
    "absent-distance": (255, 170, 0),
    "contradictory-optics": (190, 90, 255),
    "failed-hierarchy": (0, 200, 255),
    "fine-pattern": (80, 255, 80),
}
#: Opacity of a heat map where its heat is 1.
HEAT_OPACITY = 0.55


def draw_overlay(image_linear: torch.Tensor, report: Report) -> np.ndarray:
    """The image (dimmed) with every flagged sign's heat map, bounding box and label.

    Args:
        image_linear: ``(3, H, W)`` linear RGB, the diagnosed image.
        report: its :class:`~bokehsim.diagnosis.report.Report`.

    Returns:
        ``(H, W, 3)`` uint8 sRGB picture; with nothing flagged, the image with one "no sign" label.
    """
    base = linear_to_srgb(image_linear.clamp(0, 1)).permute(1, 2, 0) * 0.75
    canvas = base.clone()
    flagged = [s for s in report.signs if s.flagged]
    for sign in flagged:
        colour = torch.tensor(SIGN_COLOURS[sign.sign], dtype=canvas.dtype) / 255
        alpha = (sign.heat.clamp(0, 1) * HEAT_OPACITY)[..., None]
        canvas = canvas * (1 - alpha) + colour * alpha
    picture = Image.fromarray((canvas.clamp(0, 1) * 255).round().to(torch.uint8).numpy())
    draw = ImageDraw.Draw(picture)
    for index, sign in enumerate(flagged):
        colour = SIGN_COLOURS[sign.sign]
        label = f"{sign.sign} {sign.severity:.2f}"
        if sign.where is not None:
            x, y, w, h = sign.where
            draw.rectangle([x, y, x + w - 1, y + h - 1], outline=colour, width=2)
            draw.text((x + 3, y + 3), label, fill=colour)
        draw.text((4, 4 + 12 * index), label, fill=colour)
    if not flagged:
        draw.text((4, 4), f"no sign flagged (score {report.score:.0f})", fill=(255, 255, 255))
    return np.array(picture)  # a writable copy

"""One sign of the seed article's depth diagnostic table, as measured on an image."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .consistency import Readings
from .defocus import DefocusEstimate
from .shot import Shot

#: The five signs, in the order of the seed article's depth diagnostic table.
SIGN_NAMES = ("cutout", "absent-distance", "contradictory-optics", "failed-hierarchy", "fine-pattern")

#: Severity at which a sign is flagged: every sign's raw statistic is scaled so that the value it
#: reaches on at most one clean render in eight (its calibrated threshold) maps to this severity.
FLAG_SEVERITY = 0.5

#: The seed article's interpretation and action, per sign.
EXPLANATIONS = {
    "cutout": "double light edges or a hard edge along depth edges: the subject reads as a cutout "
              "pasted on a blurred plate; reprompt the transition",
    "absent-distance": "the blur ignores distance (a wall a step behind the subject as blurred as "
                       "the far background); add distances to the geometry sentence",
    "contradictory-optics": "bokeh highlights mix shapes that no single lens gives (round and oval, "
                            "round and bladed, blades turned differently, ovals against the cat-eye "
                            "trend); ask for a single look",
    "failed-hierarchy": "the defocused background is louder (contrast, colour, detail) than the "
                        "in-focus subject; key on the subject",
    "fine-pattern": "detail or moire survives where the expected blur forbids it; simplify or reframe",
}


@dataclass
class SignResult:
    """One sign's measurement.

    Attributes:
        sign: one of :data:`SIGN_NAMES`.
        severity: 0..1; ``FLAG_SEVERITY`` is the calibrated threshold.
        heat: ``(H, W)`` in [0, 1], where the sign shows (zeros when nowhere).
        where: ``[x, y, w, h]`` bounding box in px of the hot region, or None.
        note: a short measured fact behind the severity (for the report), e.g. "7 highlight discs".
        terms: the sign's terms, each over its own flag threshold (1: that term alone flags), for
            signs made of several (``cutout``: bleed, rim, dark band, soft edge, sharp band, band detail;
            ``absent-distance``: spread, slope, sharp area, crisp share, disc spread).
    """

    sign: str
    severity: float
    heat: torch.Tensor
    where: list[int] | None
    note: str = ""
    terms: dict[str, float] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        """True when the severity passes the calibrated threshold."""
        return self.severity > FLAG_SEVERITY


def severity_from_raw(raw: float, raw_at_flag: float) -> float:
    """Map a raw statistic (0 = physically consistent) to a severity in [0, 1): ``raw_at_flag`` to 0.5.

    ``1 - 2^(-raw / raw_at_flag)``: each further threshold's worth halves the distance to 1, so
    severities never tie at a cap and the sign furthest past its own threshold ranks first.

    Example:
        >>> round(severity_from_raw(0.2, 0.2), 3), round(severity_from_raw(0.4, 0.2), 3)
        (0.5, 0.75)
    """
    return float(1.0 - 2.0 ** (-max(raw, 0.0) / raw_at_flag))


@dataclass
class Evidence:
    """Everything the five signs read, computed once per image.

    Attributes:
        image_linear: ``(3, H, W)`` linear RGB.
        image_srgb: ``(3, H, W)`` the same, sRGB-encoded in [0, 1] (what a viewer sees).
        estimate: the measured blur.
        shot: the expected blur (depth, focus, lens).
        f_number: N the expected CoC is computed at (given, or implied).
        expected_px: ``(H, W)`` unsigned expected CoC diameter at ``f_number``.
        readings: the edge readings away from depth edges.
        forbidden_detail: ``(H, W)`` bool, detail the expected blur forbids
            (:func:`~bokehsim.diagnosis.sign_pattern.patterned_pixels`); ``fine-pattern`` counts it
            where it is compact, ``absent-distance`` where it spreads over the background.
    """

    image_linear: torch.Tensor
    image_srgb: torch.Tensor
    estimate: DefocusEstimate
    shot: Shot
    f_number: float
    expected_px: torch.Tensor
    readings: Readings
    forbidden_detail: torch.Tensor

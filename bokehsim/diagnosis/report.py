"""The diagnosis report: score, implied f-number, the five signs, the primary sign; and its JSON."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import torch

from .signs import EXPLANATIONS, SignResult


@dataclass
class Report:
    """What :func:`bokehsim.diagnose` found.

    Attributes:
        score: 0..100, ``100 * (1 - the largest severity)``: 100 = no sign of any kind.
        implied_f_number: the f-number that best explains the measured blur (None: nothing out of
            focus to measure).
        implied_from: what it was read from: ``"bokeh discs"`` (the diameters of light discs),
            ``"edges"`` (the edge readings), or None.
        f_number: the f-number the expected blur was computed at (given, else the implied one).
        rank_correlation: Spearman correlation of measured vs expected CoC over depth bins (None:
            fewer than three bins).
        median_error_px: median |measured - expected| CoC at the edge readings, in px.
        thumbnail_separation: subject/background separation at thumbnail size (see
            :func:`~bokehsim.diagnosis.thumbnail.thumbnail_separation`), or None.
        signs: the five signs, in the order of the seed article's table.
        expected_coc_px: ``(H, W)`` unsigned expected CoC at ``f_number`` (not in the JSON).
        measured_coc_px: ``(H, W)`` measured CoC (not in the JSON).
    """

    score: float
    implied_f_number: float | None
    f_number: float | None
    rank_correlation: float | None
    median_error_px: float | None
    thumbnail_separation: float | None
    signs: list[SignResult]
    expected_coc_px: torch.Tensor = field(repr=False)
    measured_coc_px: torch.Tensor = field(repr=False)
    implied_from: str | None = None

    @property
    def primary(self) -> str | None:
        """The flagged sign of highest severity, or None when no sign is flagged."""
        flagged = [s for s in self.signs if s.flagged]
        return max(flagged, key=lambda s: s.severity).sign if flagged else None

    def sign(self, name: str) -> SignResult:
        """The result of one sign by name (``"cutout"`` ...)."""
        return next(s for s in self.signs if s.sign == name)

    def to_dict(self) -> dict:
        """The report as JSON types (the schema in ``docs/diagnose.md``)."""
        return {
            "score": round(self.score, 1),
            "implied_f_number": _rounded(self.implied_f_number, 2),
            "implied_from": self.implied_from,
            "f_number": _rounded(self.f_number, 2),
            "rank_correlation": _rounded(self.rank_correlation, 3),
            "median_error_px": _rounded(self.median_error_px, 2),
            "thumbnail_separation": _rounded(self.thumbnail_separation, 2),
            "signs": [
                {"sign": s.sign, "severity": round(s.severity, 3), "flagged": s.flagged, "where": s.where,
                 "explanation": EXPLANATIONS[s.sign], "measured": s.note}
                for s in self.signs
            ],
            "primary": self.primary,
        }

    def to_json(self) -> str:
        """The report as a JSON string (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)

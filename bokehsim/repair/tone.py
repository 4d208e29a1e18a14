"""Curve before blur: the black point and clipped highlights of the picture `fix` repairs.

The seed article: "if you add blur on the background, do it after a curve that fixes the blacks and
the highlights. Otherwise you blur muddy gray and burned white". Two measurements, each automatic
with a manual override:

* **Black point**: the picture's black (the darkest 0.1 % of its luminance) is measured and
  reported; the linear curve ``y = (x - b) / (1 - b)`` pulls a black ``b`` that the user names
  (``--black-point``) down to 0 over the whole picture but the subject. It is not applied unasked: a
  single picture cannot tell a grey veil from a scene without deep shadows, and a blurred background
  raises its own darkest values (a 15 px box blur took a synthetic scene's black from 0.035 to
  0.11; two of the eight ground-truth scenes, a receding floor and a pole against a pale wall, have
  their darkest 0.1 % at 0.050-0.053). An automatic curve at 0.05 darkened such scenes' shadows
  by up to 40 codes wherever fix re-blurred them, in patches (-1.3 dB on a floor behind a
  motion-blurred plate).
* **Clipped highlights**: pixels at the top code of an 8/16-bit picture are expanded back into HDR
  before the blur and rolled off after it, exactly as ``render`` does (:mod:`bokehsim.tone`), so a
  blurred lamp keeps its energy instead of becoming a flat grey disc.

The subject is never curved: it is copied bit for bit (:mod:`bokehsim.repair.protect`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import tone
from ..diagnosis.filters import luminance
from ..errors import InputError

#: The percentile of luminance read as the picture's black.
BLACK_PERCENTILE = 0.1
#: A channel at or above this linear value is clipped (the top code of an 8-bit picture).
CLIPPED_LINEAR = 0.999


@dataclass(frozen=True)
class ToneDecision:
    """What the tone step measured and decided (every field goes to the sidecar).

    Attributes:
        black_point: linear level mapped to 0 (0.0: no curve).
        measured_black: the picture's black (0.1 % luminance percentile), linear.
        clipped_fraction: fraction of pixels with a channel at the top code.
        expand_highlights: whether clipped highlights are expanded into HDR before the blur.
        highlight_threshold, highlight_gain: the expansion curve (as ``render --highlight-*``).
    """

    black_point: float
    measured_black: float
    clipped_fraction: float
    expand_highlights: bool
    highlight_threshold: float
    highlight_gain: float

    def to_dict(self) -> dict:
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def decide_tone(
    image_linear: torch.Tensor,
    *,
    mode: str = "auto",
    black_point: float | None = None,
    expand_highlights: bool | None = None,
    highlight_threshold: float = tone.DEFAULT_HIGHLIGHT_THRESHOLD,
    highlight_gain: float = tone.DEFAULT_HIGHLIGHT_GAIN,
    encoded: bool = True,
) -> ToneDecision:
    """Measure the black point and the clipping, and decide the curve.

    Args:
        image_linear: ``(C, H, W)`` linear colour.
        mode: ``auto`` (measure; expand clipped highlights) or ``off`` (no expansion); explicit values
            below override ``auto``.
        black_point: linear level in [0, 0.5) to map to 0; None: no curve (the black is measured all
            the same).
        expand_highlights: None expands when the picture is ``encoded`` (8/16-bit) and has clipped pixels.
        highlight_threshold, highlight_gain: the expansion curve (:func:`bokehsim.tone.expand_highlights`).
        encoded: the picture came from an 8/16-bit file (float files are not clipped).

    Raises:
        InputError: a bad mode, black point or curve.
    """
    if mode not in ("auto", "off"):
        raise InputError(f"--tone: expected auto or off, got {mode!r}")
    check_black_point(black_point)
    tone.check_curve(highlight_threshold, highlight_gain)
    luma = luminance(image_linear)
    measured = float(torch.quantile(luma.flatten()[:: max(1, luma.numel() // 1_000_000)], BLACK_PERCENTILE / 100))
    clipped = float((image_linear.amax(0) >= CLIPPED_LINEAR).float().mean())
    if black_point is None:
        black_point = 0.0  # measured, never applied unasked (module docstring)
    if expand_highlights is None:
        expand_highlights = mode == "auto" and encoded and clipped > 0.0
    return ToneDecision(black_point, measured, clipped, expand_highlights, highlight_threshold, highlight_gain)


def check_black_point(black_point: float | None) -> None:
    """Raise :class:`InputError` unless ``black_point`` is None or a linear level in [0, 0.5)."""
    if black_point is not None and not 0.0 <= black_point < 0.5:
        raise InputError(f"--black-point: expected a linear level in [0, 0.5), got {black_point}")


def apply_black_point(image_linear: torch.Tensor, black_point: float) -> torch.Tensor:
    """The black-point curve ``y = max(x - b, 0) / (1 - b)`` on linear colour (b = 0: unchanged).

    Example:
        >>> apply_black_point(torch.tensor([0.05, 0.1, 1.0]), 0.1).tolist()
        [0.0, 0.0, 1.0]
    """
    if black_point == 0.0:
        return image_linear
    return (image_linear - black_point).clamp_min(0.0) / (1.0 - black_point)

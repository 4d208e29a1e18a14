"""Cut-out rims: subject colour smeared into the background around a pasted subject.

A subject pasted sharp on a plate that was blurred *with* the subject still in it carries a rim: the
plate's pixels next to the subject hold a share of the subject's colour, decaying with distance. A
physical render has none (an in-focus subject never spreads into the background behind it,
CONVENTIONS "Compositing").

A blur only smears so far. A plate blurred with CoC ``b`` (about a Gaussian of sigma ``b / 4``: a
disc's variance is ``b^2 / 16``) holds at chessboard distance ``d`` from the subject the share
``p(d) = erfc((d - 1/2) / (sqrt(2) b / 4)) / 2`` of the subject's colour ``S`` (the colour of the
subject's nearest outline, spread outward by push-pull). The background is unmixed:
``B = (I - p S) / (1 - p)``. A sharp plate (``b = 0``) has ``p = 0`` and is left as it is; `fix`
unmixes only where it re-renders the band anyway (where the blur there is already right, a rim could
not be told from a plate blurred without the subject, and the picture is left alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..composite import push_pull
from ..diagnosis.shot import dilate
from .protect import distance_px

#: A share below this is not worth unmixing (and the band ends where the share falls below it).
MIN_SHARE = 0.01
#: Largest share unmixed: right at the outline the plate is about half subject; more would divide
#: the background by almost nothing.
MAX_SHARE = 0.6
#: How far (px) from the subject the plate's blur is read.
NEAR_PX = 8


@dataclass
class RimResult:
    """The image with the rim unmixed and what was unmixed.

    Attributes:
        image: ``(C, H, W)`` linear colour.
        plate_coc_px: the plate's blur next to the subject, CoC px.
        subject_share: per ring (distance 1, 2, ...) the share of subject colour unmixed.
    """

    image: torch.Tensor
    plate_coc_px: float
    subject_share: list[float]

    def stats(self) -> dict:
        return {"plate_coc_px": round(self.plate_coc_px, 3), "subject_share": [round(s, 4) for s in self.subject_share]}


def rim_profile(plate_coc_px: float) -> list[float]:
    """The subject share ``p(d)`` at d = 1, 2, ... while it is at least :data:`MIN_SHARE`.

    Example:
        >>> [round(p, 3) for p in rim_profile(8.0)]
        [0.401, 0.227, 0.106, 0.04, 0.012]
        >>> rim_profile(0.0)
        []
    """
    sigma_px = plate_coc_px / 4
    shares = []
    while sigma_px > 0:
        share = 0.5 * math.erfc((len(shares) + 0.5) / (math.sqrt(2) * sigma_px))
        if share < MIN_SHARE:
            break
        shares.append(min(share, MAX_SHARE))
    return shares


def remove_rims(image: torch.Tensor, protected: torch.Tensor, existing_coc_px: torch.Tensor) -> RimResult:
    """Unmix the subject's colour from the background next to it (see the module docstring).

    Args:
        image: ``(C, H, W)`` linear colour.
        protected: ``(H, W)`` bool, the subject (:func:`~bokehsim.repair.protect.subject_mask`).
        existing_coc_px: ``(H, W)`` the blur the image already shows, CoC px (>= 0).

    Returns:
        :class:`RimResult`; the subject's pixels are unchanged.
    """
    near = dilate(protected, NEAR_PX) & ~protected
    if not bool(near.any()):
        return RimResult(image, 0.0, [])
    plate_coc_px = float(existing_coc_px[near].median())
    shares = rim_profile(plate_coc_px)
    if not shares:
        return RimResult(image, plate_coc_px, [])
    distance = distance_px(protected, len(shares))
    outline = protected & (distance_px(~protected, 1) <= 1)
    subject = push_pull(image, outline.float())
    cleaned = image.clone()
    for ring, share in enumerate(shares, start=1):
        where = distance == ring
        cleaned[:, where] = ((image[:, where] - share * subject[:, where]) / (1 - share)).clamp_min(0.0)
    return RimResult(cleaned, plate_coc_px, shares)

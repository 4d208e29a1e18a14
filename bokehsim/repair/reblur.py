"""The blur still missing, given the blur already there, rendered from the geometry.

For an image whose region already shows a blur of CoC ``b`` (px, from the defocus estimate) where the
lens gives ``c`` (CONVENTIONS), blurring again by a kernel of CoC ``m`` gives a blur of about
``sqrt(b^2 + m^2)`` (the variances of the two kernels add, and a disc's variance is proportional to
its diameter squared). So the missing blur is ``m = sign(c) * sqrt(c^2 - b^2)``: an already soft
background is not blurred twice. Where ``b > c`` the image is blurrier than the lens allows, which
no filter undoes: ``m = 0`` there and the excess goes to the *deficit map*.

The missing blur is rendered by bokehsim's own renderer (occlusion, hidden-background fill, highlight
expansion) through a depth map that gives exactly ``m`` under the shot's lens: the depth whose CoC is
``m``. Its sign is that of ``c``, so what lies in front of the focus plane stays in front of the
subject and what lies behind stays behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..lens import Lens, coc_scale_px

#: Existing blur within this fraction of the expected one counts as already right: the defocus
#: estimate is not more accurate than that, and adding sqrt(c^2 - (0.9 c)^2) = 0.44 c to a blur that
#: is in fact right would soften a correct picture.
ALREADY_RIGHT_FRACTION = 0.85
#: A missing blur below this many px is not worth a render pass.
NEGLIGIBLE_COC_PX = 0.5


@dataclass
class MissingBlur:
    """The blur to add and the blur that cannot be removed.

    Attributes:
        coc_px: ``(H, W)`` signed CoC to render, px (sign of the expected CoC).
        deficit_px: ``(H, W)`` >= 0: how much blurrier than the lens allows the image is, CoC px.
    """

    coc_px: torch.Tensor
    deficit_px: torch.Tensor

    def stats(self, region: torch.Tensor) -> dict:
        """Summary numbers over ``region`` (bool ``(H, W)``) for the sidecar."""
        if not bool(region.any()):
            return {"pixels": 0}
        missing, deficit = self.coc_px.abs()[region], self.deficit_px[region]
        return {
            "pixels": int(region.sum()),
            "missing_coc_px": {"median": round(float(missing.median()), 3), "max": round(float(missing.max()), 3),
                               "fraction_reblurred": round(float((missing >= NEGLIGIBLE_COC_PX).float().mean()), 4)},
            "deficit_px": {"median": round(float(deficit.median()), 3), "max": round(float(deficit.max()), 3),
                           "fraction": round(float((deficit > 0).float().mean()), 4)},
        }


def missing_blur(expected_coc_px: torch.Tensor, existing_coc_px: torch.Tensor) -> MissingBlur:
    """The signed CoC still to add and the deficit (see the module docstring).

    Args:
        expected_coc_px: ``(H, W)`` signed CoC c the lens gives, px.
        existing_coc_px: ``(H, W)`` CoC b the image already shows, px (>= 0).

    Example:
        >>> m = missing_blur(torch.tensor([10.0, -10.0, 10.0, 4.0]), torch.tensor([6.0, 0.0, 9.0, 7.0]))
        >>> m.coc_px.tolist(), m.deficit_px.tolist()
        ([8.0, -10.0, 0.0, 0.0], [0.0, 0.0, 0.0, 3.0])
    """
    expected = expected_coc_px.abs()
    existing = existing_coc_px.clamp_min(0.0)
    magnitude = (expected**2 - existing**2).clamp_min(0.0).sqrt()
    magnitude = torch.where(existing >= ALREADY_RIGHT_FRACTION * expected, torch.zeros_like(magnitude), magnitude)
    magnitude = torch.where(magnitude < NEGLIGIBLE_COC_PX, torch.zeros_like(magnitude), magnitude)
    return MissingBlur(torch.copysign(magnitude, expected_coc_px), (existing - expected).clamp_min(0.0))


def depth_for_coc(coc_px: torch.Tensor, lens: Lens, image_width_px: int) -> torch.Tensor:
    """The z-depth (m) at which ``lens`` gives the signed CoC ``coc_px``: S2 = 1 / (1/S1 - c/K).

    Args:
        coc_px: ``(H, W)`` signed CoC, px; behind focus it must stay below K/S1 (the CoC at infinity).
        lens: the shot.
        image_width_px: W.

    Example:
        >>> lens = Lens(focal_length_mm=50, f_number=2, focus_distance_m=2)
        >>> c = lens.coc_px(torch.tensor([1.0, 2.0, 7.0]), 3600)
        >>> [round(v, 4) for v in depth_for_coc(c, lens, 3600).tolist()]
        [1.0, 2.0, 7.0]
    """
    k = coc_scale_px(focal_length_mm=lens.focal_length_mm, f_number=lens.f_number,
                     focus_distance_m=lens.focus_distance_m, sensor_width_mm=lens.sensor_width_mm,
                     image_width_px=image_width_px)
    at_infinity = k / lens.focus_distance_m
    inverse = (1.0 / lens.focus_distance_m - coc_px.clamp(max=0.999 * at_infinity) / k)
    return 1.0 / inverse

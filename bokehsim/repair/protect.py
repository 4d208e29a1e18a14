"""Subject protection: which pixels `fix` copies bit for bit, and how far others are from them.

The subject is what the lens holds in focus: pixels whose expected CoC is below half a pixel
(CONVENTIONS, "Thin lens"), plus an optional user mask. The set is *grown by the depth edge*: an
in-focus object's outline pixels are anti-aliased, half subject colour and half background depth,
so one pixel across a depth discontinuity joins the subject; otherwise the re-render would spread
subject colour into the background (a halo). Pixels that a defocused foreground nearer than the
subject spills over are not protected: the lens blurs that foreground across the subject. Where
``diagnose`` flags a cut-out, `fix` takes a pasted line on that grown outline pixel back from the
subject (it is no anti-aliased edge; see ``fix`` and :func:`.rims.remove_lines`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..diagnosis.shot import dilate

#: |CoC| below which a pixel is in focus (half a pixel: the blur is invisible).
IN_FOCUS_COC_PX = 0.5
#: Depth ratio between neighbours that counts as a depth edge.
DEPTH_EDGE_RATIO = 1.05


def depth_edges(depth_m: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: pixels with a 4-neighbour more than :data:`DEPTH_EDGE_RATIO` nearer or farther."""
    log_depth = depth_m.log()[None, None]
    padded = F.pad(log_depth, (1, 1, 1, 1), mode="replicate")[0, 0]
    centre = padded[1:-1, 1:-1]
    jump = torch.stack([(padded[1:-1, :-2] - centre).abs(), (padded[1:-1, 2:] - centre).abs(),
                        (padded[:-2, 1:-1] - centre).abs(), (padded[2:, 1:-1] - centre).abs()]).amax(0)
    return jump > math.log(DEPTH_EDGE_RATIO)


def foreground_reach(coc_px: torch.Tensor) -> torch.Tensor:
    """``(H, W)`` bool: pixels that a defocused point in front of focus (c < -0.5 px) blurs over.

    Radii are binned by powers of two and each bin's pixels are dilated by the bin's largest radius,
    so the reach is never underestimated.
    """
    radius_px = (-coc_px).clamp_min(0.0) / 2.0
    reach = torch.zeros_like(coc_px, dtype=torch.bool)
    front = coc_px < -IN_FOCUS_COC_PX
    low = 0.0
    while bool((front & (radius_px > low)).any()):
        high = max(1.0, 2.0 * low)
        in_bin = front & (radius_px > low) & (radius_px <= high)
        reach |= dilate(in_bin, math.ceil(high))
        low = high
    return reach


def subject_mask(coc_px: torch.Tensor, depth_m: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The pixels `fix` must leave bit for bit as they are.

    Args:
        coc_px: ``(H, W)`` signed expected CoC in px (CONVENTIONS).
        depth_m: ``(H, W)`` z-depth S2 in metres.
        mask: optional ``(H, W)`` bool, extra pixels the user protects.

    Returns:
        ``(H, W)`` bool: in focus (|c| < 0.5 px), grown one pixel across depth edges, plus ``mask``,
        minus what a defocused foreground covers (outside ``mask``).

    Example:
        >>> c = torch.tensor([[0.0, 0.0, 9.0, 9.0]]); d = torch.tensor([[2.0, 2.0, 5.0, 5.0]])
        >>> subject_mask(c, d).tolist()
        [[True, True, True, False]]
    """
    in_focus = coc_px.abs() < IN_FOCUS_COC_PX
    grown = in_focus | (dilate(in_focus, 1) & depth_edges(depth_m))
    protected = grown & ~foreground_reach(coc_px)
    return protected | mask if mask is not None else protected

"""`bokehsim diagnose` on a sixth set of corruptions made differently (blind, eleventh round).

    PYTHONPATH=$PWD python benchmarks/diagnose_blind11.py [--ground-truth out/de64b/gt]

The sixth to tenth rounds' recipes were looked at, so they count as seen. These five were written
(2026-12-07, stop 37) before any result on them, and are not to be tuned on:

* ``cutout`` / ``ring-plate``: the subject pasted with a hard (binary) matte on a plate blurred by
  a ring (an annulus from 0.7 to 1 of its radius, as a mirror lens draws it) 1.5x the background's
  median CoC across: the subject's colour lies on the plate as a doubled outline around it;
* ``absent-distance`` / ``inverted-depth``: blur ordered against the depth, the background's nearest
  parts blurred most (the lens at N/2) and its farthest least (at 2N), by the rank of their CoC;
* ``contradictory-optics`` / ``round-centre-hexagon-edge``: a round aperture inside an ellipse of
  half the frame's size around its centre, a six-bladed one outside it;
* ``failed-hierarchy`` / ``background-clarity``: the background alone given a "clarity" boost (its
  sRGB values plus 1.2x their difference from a 12 px Gaussian of them), louder by local contrast;
* ``fine-pattern`` / ``pixelated-patch``: a patch of the defocused region replaced by the *sharp*
  scene averaged over 4 px blocks (an upscaler's low-resolution detail where the lens forbids any).

Run once, on the renderer of commit 8b17511 (fills leave out a sharp subject's outline), before any
change to diagnose: right primary on **6 of 21** (ring-plate 3/6, background-clarity 3/6,
pixelated-patch 0/5, round-centre-hexagon-edge 0/2, inverted-depth 0/2). The recipes were looked at
for bugs afterwards (the pictures show each corruption plainly) and none was changed.

The rules of the evaluation leave out what a scene cannot show (see ``diagnose_heldout.applies``).
Writes ``benchmarks/results/diagnose_blind11.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bokehsim.diagnosis.filters import gaussian_blur
from diagnose_eval import background_mask, patch_box, shoot, srgb_edit, subject_matte
from diagnose_heldout import blur_by_field, run_blind


def ring_kernel(diameter: int) -> torch.Tensor:
    """An annulus from 0.7 to 1 of the radius, summing to 1, ``(1, 1, d, d)``."""
    offsets = torch.arange(diameter, dtype=torch.float32) - (diameter - 1) / 2
    r = torch.hypot(offsets[:, None], offsets[None, :]) / (diameter / 2)
    ring = ((r >= 0.7) & (r <= 1.0)).float()
    return (ring / ring.sum())[None, None]


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    coc = lens.coc_px(depth, w).abs()
    if background.any():
        diameter = max(5, int(1.5 * float(coc[background].median())) | 1)
        padded = F.pad(pinhole[:, None], (diameter // 2,) * 4, mode="replicate")
        plate = F.conv2d(padded, ring_kernel(diameter))[:, 0]
        hard = (matte > 0.5).float()
        yield "cutout", "ring-plate", hard * pinhole + (1 - hard) * plate
        # The rank of each pixel's CoC among the background's, reversed: 2 (N/2) nearest, 0 (2N) farthest.
        ranks = torch.searchsorted(coc[background].sort().values, coc.contiguous()).float() / int(background.sum())
        yield "absent-distance", "inverted-depth", blur_by_field(pinhole, depth, lens, matte, 2 * (1 - ranks.clamp(0, 1)))
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    centre = ((yy ** 2 + xx ** 2) < 0.5 ** 2).float()[None]
    hexagon, _ = shoot(pinhole, depth, lens, "blades:n=6")
    yield "contradictory-optics", "round-centre-hexagon-edge", centre * clean + (1 - centre) * hexagon
    clarity = srgb_edit(clean, lambda s: s + 1.2 * (s - gaussian_blur(s, 12.0)))
    yield "failed-hierarchy", "background-clarity", torch.where(background[None], clarity, clean)
    box = patch_box(background, min(h, w) * 0.16, rng)
    if box is not None:
        blocks = F.interpolate(F.avg_pool2d(pinhole[None], 4, ceil_mode=True), scale_factor=4, mode="nearest")[0]
        pixelated = clean.clone()
        pixelated[:, box[0], box[1]] = blocks[:, :h, :w][:, box[0], box[1]]
        yield "fine-pattern", "pixelated-patch", pixelated


if __name__ == "__main__":
    run_blind(recipes, "diagnose_blind11.md", __doc__.splitlines()[0], seed=37)

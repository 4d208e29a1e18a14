"""`bokehsim diagnose` on a tenth set of corruptions made differently (blind, fifteenth round).

    PYTHONPATH=$PWD python benchmarks/diagnose_blind15.py [--ground-truth out/de64b/gt]

The sixth to fourteenth rounds' recipes were looked at, so they count as seen. These five were
written (2026-12-07, stop 40, on commit 6276b11) before any result on them, and are not to be tuned
on:

* ``cutout`` / ``coarse-portrait-mask``: a phone's "portrait mode": the subject cut by a mask made at
  an eighth of the resolution (the in-focus matte pooled 8x down, bilinear up, thresholded), the
  rest replaced by a normalised Gaussian blur of the background alone (sigma a third of the
  background's median CoC): the mask's blocky outline eats into the subject here and leaves sharp
  background there;
* ``absent-distance`` / ``mirrored-depth-blur``: the lens's render from the depth map mirrored left
  to right, the in-focus subject kept from the true render: blur that follows another scene's
  distances;
* ``contradictory-optics`` / ``square-and-circle-rows``: rows 56 px high alternating between a
  four-bladed (square) aperture and a circle;
* ``failed-hierarchy`` / ``subject-flattened``: the background untouched, the in-focus subject's
  sRGB contrast pulled halfway to its mean: a flat subject before a livelier background;
* ``fine-pattern`` / ``zone-plate-patch``: a patch of the defocused region modulated by a zone plate
  (concentric rings whose frequency grows outward, +-20 %), a moire in the bokeh.

Run once, on commit 6276b11, before anything else changed: right primary on **14 of 24**
(coarse-portrait-mask 1/6, mirrored-depth-blur 1/2, square-and-circle-rows 2/2, subject-flattened
5/8, zone-plate-patch 5/6). Looked at afterwards: the portrait-mode mask is mostly a Gaussian
background (its normalised blur leaves no halo, and the mask's error is 1-4 px along a smooth
outline, hard to see at 480 px); at night it turns the discs into soft blobs, which no sign reads.
The zone plate missed is the thin pole's, where the background's CoC (7 px) lets the plate's
inner rings through.

The rules of the evaluation leave out what a scene cannot show (see ``diagnose_heldout.applies``).
Writes ``benchmarks/results/diagnose_blind15.md``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diagnose_eval import background_mask, patch_box, shoot, srgb_edit, subject_matte
from diagnose_heldout import run_blind

from bokehsim.diagnosis.filters import gaussian_blur


def coarse_mask(matte: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """The matte as a segmentation made at 1/``factor`` of the resolution: pooled, bilinear up, cut at 0.5."""
    h, w = matte.shape
    small = F.avg_pool2d(matte[None, None], factor, ceil_mode=True)
    return (F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)[0, 0] > 0.5).float()


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    if background.any():
        c_bg = float(lens.coc_px(depth, w).abs()[background].median())
        mask = coarse_mask(matte)
        weight = (1 - matte)[None]
        sigma = max(1.0, c_bg / 3)
        plate = gaussian_blur(pinhole * weight, sigma) / gaussian_blur(weight, sigma).clamp_min(1e-3)
        yield "cutout", "coarse-portrait-mask", mask[None] * pinhole + (1 - mask[None]) * plate.clamp(0, 1)
    mirrored, _ = shoot(pinhole, depth.flip(-1), lens)
    yield "absent-distance", "mirrored-depth-blur", matte[None] * clean + (1 - matte[None]) * mirrored
    rows = ((torch.arange(h)[:, None] // 56) % 2 == 1).float().expand(h, w)[None]
    squares, _ = shoot(pinhole, depth, lens, "blades:n=4,rotation=45")
    yield "contradictory-optics", "square-and-circle-rows", rows * squares + (1 - rows) * clean

    def flatten(s: torch.Tensor) -> torch.Tensor:
        mean = s[:, matte > 0.5].mean(dim=1)[:, None, None] if (matte > 0.5).any() else s.mean()
        return mean + 0.5 * (s - mean)

    flat = srgb_edit(clean, flatten)
    yield "failed-hierarchy", "subject-flattened", matte[None] * flat + (1 - matte[None]) * clean
    box = patch_box(background, min(h, w) * 0.25, rng)
    if box is not None:
        yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        cy, cx = (box[0].start + box[0].stop) / 2, (box[1].start + box[1].stop) / 2
        zone = 1 + 0.2 * torch.cos(math.pi * ((yy - cy) ** 2 + (xx - cx) ** 2) / 60.0)
        img = clean.clone()
        img[:, box[0], box[1]] = (clean * zone[None])[:, box[0], box[1]].clamp(0, 1)
        yield "fine-pattern", "zone-plate-patch", img


if __name__ == "__main__":
    run_blind(recipes, "diagnose_blind15.md", __doc__.splitlines()[0], seed=43)

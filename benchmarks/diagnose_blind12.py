"""`bokehsim diagnose` on a seventh set of corruptions made differently (blind, twelfth round).

    PYTHONPATH=$PWD python benchmarks/diagnose_blind12.py [--ground-truth out/de64b/gt]

The sixth to eleventh rounds' recipes were looked at, so they count as seen. These five were written
(2026-12-07, stop 38) before any result on them, and are not to be tuned on:

* ``cutout`` / ``downscaled-plate``: the subject pasted with a hard (binary) matte on a plate made
  the cheap way, the sharp scene shrunk 8x (area average) and enlarged again bilinearly;
* ``absent-distance`` / ``far-third-sharper``: the background's farthest third (by depth) rendered
  at 2N and the rest at N/2: the far parts four times less blurred than the near ones;
* ``contradictory-optics`` / ``upper-pentagon``: the top half of the frame through a five-bladed
  aperture, the bottom half through the round one;
* ``failed-hierarchy`` / ``inverse-vignette``: the background alone brightened toward the corners
  (up to one stop at them) and its sRGB contrast about its mean raised 1.3x;
* ``fine-pattern`` / ``oversharpened-patch``: a patch of the defocused region replaced by the sharp
  scene softened (Gaussian, 1 px) and unsharp-masked (amount 2 at 1.5 px), an upscaler's "enhanced"
  detail where the lens forbids any.

Run once, on commit f899239, before any change to diagnose: right primary on **11 of 23**
(downscaled-plate 3/6, far-third-sharper 1/2, upper-pentagon 0/2, inverse-vignette 4/7,
oversharpened-patch 3/6).

The rules of the evaluation leave out what a scene cannot show (see ``diagnose_heldout.applies``).
Writes ``benchmarks/results/diagnose_blind12.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bokehsim.diagnosis.filters import gaussian_blur
from diagnose_eval import background_mask, patch_box, shoot, srgb_edit, subject_matte
from diagnose_heldout import blur_by_field, run_blind


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    if background.any():
        small = F.avg_pool2d(pinhole[None], 8, ceil_mode=True)
        plate = F.interpolate(small, scale_factor=8, mode="bilinear", align_corners=False)[0, :, :h, :w]
        hard = (matte > 0.5).float()
        yield "cutout", "downscaled-plate", hard * pinhole + (1 - hard) * plate
        far_cut = float(torch.quantile(depth[background], 2 / 3))
        level = torch.where(depth >= far_cut, 0.0, 2.0)  # 0: the render at 2N, 2: at N/2
        yield "absent-distance", "far-third-sharper", blur_by_field(pinhole, depth, lens, matte, level)
    upper = (torch.arange(h) < h // 2).float()[None, :, None]
    pentagon, _ = shoot(pinhole, depth, lens, "blades:n=5")
    yield "contradictory-optics", "upper-pentagon", upper * pentagon + (1 - upper) * clean
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    corners = ((yy ** 2 + xx ** 2) / 2).clamp(max=1)[None]
    def brighter_edges(s):
        s = s + 0.3 * (s - s.mean())
        return s * 2 ** (corners / 2.2)
    yield "failed-hierarchy", "inverse-vignette", torch.where(background[None], srgb_edit(clean, brighter_edges), clean)
    box = patch_box(background, min(h, w) * 0.18, rng)
    if box is not None:
        soft = gaussian_blur(pinhole, 1.0)
        enhanced = (soft + 2.0 * (soft - gaussian_blur(soft, 1.5))).clamp(0, 1)
        patched = clean.clone()
        patched[:, box[0], box[1]] = enhanced[:, box[0], box[1]]
        yield "fine-pattern", "oversharpened-patch", patched


if __name__ == "__main__":
    run_blind(recipes, "diagnose_blind12.md", __doc__.splitlines()[0], seed=38)

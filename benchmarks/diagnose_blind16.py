"""`bokehsim diagnose` on an eleventh set of corruptions made differently (blind, sixteenth round).

    PYTHONPATH=$PWD python benchmarks/diagnose_blind16.py [--ground-truth out/de64b/gt]

The sixth to fifteenth rounds' recipes were looked at, so they count as seen. These five were
written (2026-12-07, stop 41, on commit 08bcd84) before any result on them, and are not to be tuned
on:

* ``cutout`` / ``light-wrap``: the compositor's "light wrap" overdone: the physical render, with the
  subject's outer band (a Gaussian of 3 px reaching in from its outline, up to 80 %) mixed with the
  blurred background beside it, so the background's light glows over the in-focus subject's edge;
* ``absent-distance`` / ``linear-depth-blur``: the naive model of blur growing in proportion to
  the distance behind the subject instead of the thin lens's saturation: blur as the lens gives it at
  the background's nearest depth, and 2x (the render at N/2) by twice that depth, more beyond;
* ``contradictory-optics`` / ``random-rotation-blocks``: 64 px blocks, each through an oval aperture
  (aspect 1.6) at one of four angles drawn at random: ovals whose rotations disagree;
* ``failed-hierarchy`` / ``s-curve-background``: the background alone through a steep sRGB S-curve
  (a logistic of slope 8 about mid-grey, rescaled to keep black and white);
* ``fine-pattern`` / ``woven-fabric-patch``: a patch of the defocused region modulated by a basket
  weave (the product of two square waves of 6 px period, rotated 20 degrees, softened by 0.7 px,
  +-20 %): a printed fabric left sharp in the bokeh.

Run once, on commit 08bcd84, before anything else changed: right primary on **7 of 18**
(light-wrap 2/5, linear-depth-blur 0/2, random-rotation-blocks 1/2, s-curve-background 2/5,
woven-fabric-patch 2/4), and no wrong primary: every miss named nothing.

The rules of the evaluation leave out what a scene cannot show (see ``diagnose_heldout.applies``).
Writes ``benchmarks/results/diagnose_blind16.md``.
"""

from __future__ import annotations

import math

import torch
from diagnose_eval import background_mask, patch_box, shoot, srgb_edit, subject_matte
from diagnose_heldout import blur_by_field, run_blind

from bokehsim.diagnosis.filters import gaussian_blur


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    outside = (1 - matte)[None]
    behind = gaussian_blur(clean * outside, 4.0) / gaussian_blur(outside, 4.0).clamp_min(1e-3)
    wrap = (0.8 * gaussian_blur(1 - matte, 3.0) * matte)[None]
    yield "cutout", "light-wrap", (1 - wrap) * clean + wrap * behind
    if background.any():
        nearest = float(depth[background].min())
        # the render's index in blur_by_field: 1 is the lens (N), 2 twice its blur (N / 2)
        level = (1 + torch.log2((depth / nearest).clamp_min(1.0))).clamp(max=2.0)
        yield "absent-distance", "linear-depth-blur", blur_by_field(pinhole, depth, lens, matte[None], level[None])
    ovals = [shoot(pinhole, depth, lens, f"oval:aspect=1.6,angle={angle}")[0] for angle in (0, 45, 90, 135)]
    blocks = torch.randint(4, ((h + 63) // 64, (w + 63) // 64), generator=rng)
    choice = blocks.repeat_interleave(64, 0).repeat_interleave(64, 1)[:h, :w]
    yield "contradictory-optics", "random-rotation-blocks", sum((choice == k).float()[None] * oval for k, oval in enumerate(ovals))

    def s_curve(s: torch.Tensor) -> torch.Tensor:
        logistic = lambda x: 1 / (1 + torch.exp(-8 * (x - 0.5)))  # noqa: E731
        return (logistic(s) - logistic(torch.tensor(0.0))) / (logistic(torch.tensor(1.0)) - logistic(torch.tensor(0.0)))

    bg = background.float()[None]
    yield "failed-hierarchy", "s-curve-background", bg * srgb_edit(clean, s_curve) + (1 - bg) * clean
    box = patch_box(background, min(h, w) * 0.22, rng)
    if box is not None:
        yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
        angle = math.radians(20)
        u, v = xx * math.cos(angle) + yy * math.sin(angle), -xx * math.sin(angle) + yy * math.cos(angle)
        weave = torch.sign(torch.sin(2 * math.pi * u / 6)) * torch.sign(torch.sin(2 * math.pi * v / 6))
        weave = gaussian_blur(weave, 0.7)
        img = clean.clone()
        img[:, box[0], box[1]] = (clean * (1 + 0.2 * weave[None]))[:, box[0], box[1]].clamp(0, 1)
        yield "fine-pattern", "woven-fabric-patch", img


if __name__ == "__main__":
    run_blind(recipes, "diagnose_blind16.md", __doc__.splitlines()[0], seed=47)

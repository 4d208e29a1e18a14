"""`bokehsim diagnose` on a twelfth set of corruptions made differently (blind, seventeenth round).

    PYTHONPATH=$PWD python benchmarks/diagnose_blind17.py [--ground-truth out/de64b/gt]

The sixth to sixteenth rounds' recipes were looked at, so they count as seen. These five were
written (2026-12-07, stop 42, on commit 1ff427c) before any result on them, and are not to be tuned
on:

* ``cutout`` / ``sticker-stroke``: the "sticker" look of a cut-out: the physical render with a
  2 px band just outside the in-focus subject's outline painted half-way to white, a light outline
  drawn around the subject;
* ``absent-distance`` / ``checker-blur-tiles``: the background in 96 px tiles that alternate between
  half the lens's blur (the render at 2N) and twice it (N/2), whatever the depth: blur that steps
  where the depth does not;
* ``contradictory-optics`` / ``one-sided-cat-eye``: the left half of the frame through a cat-eye
  aperture (strength 0.8), the right half through a plain circle: optical vignetting on one side of
  the frame only, where a lens gives it symmetric about the centre;
* ``failed-hierarchy`` / ``orton-background``: the background alone given the "Orton" glow, a
  screen blend (in sRGB, 70 %) with its own copy blurred by a 6 px Gaussian, which brightens it and
  lifts its contrast;
* ``fine-pattern`` / ``brick-wall-patch``: a patch of the defocused region printed with a sharp
  brick bond (bricks 14 x 7 px, rows offset by half a brick, 1 px mortar 25 % darker).

Run once, on commit 1ff427c, before anything else changed: right primary on **9 of 17**
(sticker-stroke 6/6, orton-background 2/5, brick-wall-patch 0/2, one-sided-cat-eye 1/2,
checker-blur-tiles 0/2); wrong primaries: two Orton backgrounds named ``cutout`` (the glow spills
over the subject's outline), one checker of blur tiles named ``fine-pattern`` (the half-blur tiles
keep detail the lens forbids there).

The rules of the evaluation leave out what a scene cannot show (see ``diagnose_heldout.applies``).
Writes ``benchmarks/results/diagnose_blind17.md``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diagnose_eval import background_mask, patch_box, shoot, srgb_edit, subject_matte
from diagnose_heldout import blur_by_field, run_blind

from bokehsim.diagnosis.filters import gaussian_blur


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    stroke = (F.max_pool2d(matte[None, None], 5, stride=1, padding=2)[0, 0] - matte)[None]
    yield "cutout", "sticker-stroke", (1 - 0.5 * stroke) * clean + 0.5 * stroke
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    tiles = ((yy // 96 + xx // 96) % 2).float() * 2.0  # the render's index: 0 is 2N, 2 is N/2
    yield "absent-distance", "checker-blur-tiles", blur_by_field(pinhole, depth, lens, matte[None], tiles[None])
    cat_eye, _ = shoot(pinhole, depth, lens, "cat-eye:strength=0.8")
    left = (xx < w // 2).float()[None]
    yield "contradictory-optics", "one-sided-cat-eye", left * cat_eye + (1 - left) * clean

    def orton(s: torch.Tensor) -> torch.Tensor:
        glow = gaussian_blur(s, 6.0)
        return 0.3 * s + 0.7 * (1 - (1 - s) * (1 - glow))

    bg = background.float()[None]
    yield "failed-hierarchy", "orton-background", bg * srgb_edit(clean, orton) + (1 - bg) * clean
    box = patch_box(background, min(h, w) * 0.22, rng)
    if box is not None:
        row = yy // 7
        mortar = (yy % 7 == 0) | ((xx + 7 * (row % 2)) % 14 == 0)
        img = clean.clone()
        img[:, box[0], box[1]] = (clean * (1 - 0.25 * mortar.float()[None]))[:, box[0], box[1]]
        yield "fine-pattern", "brick-wall-patch", img


if __name__ == "__main__":
    run_blind(recipes, "diagnose_blind17.md", __doc__.splitlines()[0], seed=53)

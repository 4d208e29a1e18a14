"""`bokehsim diagnose` on a third set of corruptions made differently (blind, eighth round).

    PYTHONPATH=$PWD python benchmarks/diagnose_blind8.py [--ground-truth out/de64b/gt]

The sixth and seventh rounds' recipes were looked at and worked on, so they count as seen. These
five were written (2026-12-07, stop 34) before any result on them, and are not to be tuned on:

* ``cutout`` / ``offset-matte``: the subject pasted through its matte shifted 3 px right and 2 px
  down (a misregistered mask) on a plate blurred through a 6-blade aperture at the background's
  median depth, the subject still in it: on one side a sliver of sharp background, on the other the
  subject's own outline taken from the plate;
* ``absent-distance`` / ``blur-by-brightness``: blur set by the picture's brightness instead of its
  depth (the lens's renders at 2N, N and N/2 blended by luma rank, bright parts most blurred); the
  in-focus subject kept. Like the seventh round's radial blur it needs no background distances;
* ``contradictory-optics`` / ``triangle-blocks``: random 48 px blocks (half of them) through a
  3-blade aperture, the rest round;
* ``failed-hierarchy`` / ``muted-subject``: the background untouched, the in-focus subject's
  saturation and local contrast halved (in sRGB): the background louder because the subject was
  made quiet;
* ``fine-pattern`` / ``halftone-dots``: a patch of the defocused region printed with a 45-degree
  dot screen of period 3.5 px, 25 % contrast (a print scanned into the plate).

The rules of the evaluation leave out what a scene cannot show (see ``diagnose_heldout.applies``).
Writes ``benchmarks/results/diagnose_blind8.md``.
"""

from __future__ import annotations

import math

import torch

from bokehsim.diagnosis.filters import gaussian_blur, luminance
from diagnose_eval import background_mask, patch_box, shoot, srgb_edit, subject_matte
from diagnose_heldout import blur_by_field, run_blind

BLOCK_PX = 48


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    if background.any():
        yield "cutout", "offset-matte", _offset_matte(pinhole, depth, lens, matte, background)
        yield "absent-distance", "blur-by-brightness", _blur_by_brightness(pinhole, depth, lens, matte)
    blocks = (torch.rand((h + BLOCK_PX - 1) // BLOCK_PX, (w + BLOCK_PX - 1) // BLOCK_PX, generator=rng) < 0.5).float()
    blocks = blocks.repeat_interleave(BLOCK_PX, 0).repeat_interleave(BLOCK_PX, 1)[:h, :w][None]
    triangles, _ = shoot(pinhole, depth, lens, "blades:n=3,rotation=0")
    yield "contradictory-optics", "triangle-blocks", blocks * triangles + (1 - blocks) * clean

    def mute(x: torch.Tensor) -> torch.Tensor:
        grey = x.mean(0, keepdim=True)
        x = grey + (x - grey) * 0.5
        local = gaussian_blur(x, 8.0)
        return local + (x - local) * 0.5

    subject = matte[None] > 0.5
    yield "failed-hierarchy", "muted-subject", torch.where(subject, srgb_edit(clean, mute), clean)
    box = patch_box(background, min(h, w) * 0.18, rng)
    if box is not None:
        yield "fine-pattern", "halftone-dots", _halftone(clean, box)


def _offset_matte(pinhole, depth, lens, matte, background) -> torch.Tensor:
    flat = torch.full_like(depth, float(depth[background].median()))
    plate, _ = shoot(pinhole, flat, lens, "blades:n=6,rotation=0")
    shifted = torch.roll(matte, shifts=(2, 3), dims=(0, 1))
    return shifted * pinhole + (1 - shifted) * plate


def _blur_by_brightness(pinhole, depth, lens, matte) -> torch.Tensor:
    luma = luminance(pinhole)
    rank = torch.argsort(torch.argsort(luma.flatten())).float().reshape(luma.shape) / max(luma.numel() - 1, 1)
    return blur_by_field(pinhole, depth, lens, matte, gaussian_blur(rank[None] * 2, 4.0)[0])  # 0 darkest, 2 brightest


def _halftone(clean: torch.Tensor, box) -> torch.Tensor:
    h, w = clean.shape[1:]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    period = 3.5 * math.sqrt(2)  # along the screen's 45-degree axes
    dots = torch.cos(2 * math.pi * (xx + yy) / period) * torch.cos(2 * math.pi * (xx - yy) / period)
    printed = clean.clone()
    printed[:, box[0], box[1]] = (clean * (1 + 0.25 * dots[None]))[:, box[0], box[1]].clamp(0, 1)
    return printed


if __name__ == "__main__":
    run_blind(recipes, "diagnose_blind8.md", __doc__.splitlines()[0], seed=23)

"""`bokehsim diagnose` on an eighth set of corruptions made differently (blind, thirteenth round).

    PYTHONPATH=$PWD python benchmarks/diagnose_blind13.py [--ground-truth out/de64b/gt]

The sixth to twelfth rounds' recipes were looked at, so they count as seen. These five were written
(2026-12-07, stop 38, after the blade terms of ``contradictory-optics`` landed) before any result on
them, and are not to be tuned on:

* ``cutout`` / ``ghost-outline``: the lens's render of the scene with a ghost of the subject left in
  the plate (40 % of it, shifted 5 px right, before the blur), the subject pasted with a hard matte:
  a doubled outline beside it;
* ``absent-distance`` / ``diagonal-halves``: the frame split along its main diagonal, the part above
  it rendered at 2N and the part below at N/2, whatever the depth;
* ``contradictory-optics`` / ``six-and-eight-blades``: the left half through a six-bladed aperture,
  the right half through an eight-bladed one;
* ``failed-hierarchy`` / ``channel-gamma-grade``: the background alone graded by per-channel sRGB
  gammas (red and blue 0.8, green 1.2), a magenta push that generators' "cinematic" looks give;
* ``fine-pattern`` / ``transplanted-sharp-crop``: a patch of the defocused region replaced by the
  sharp scene from elsewhere in the frame (the crop half a frame away, wrapped).

Run once, on commit 18ed18e, before anything else changed: right primary on **11 of 22**
(ghost-outline 1/5, diagonal-halves 1/2, six-and-eight-blades 2/2, channel-gamma-grade 3/6,
transplanted-sharp-crop 4/7).

The rules of the evaluation leave out what a scene cannot show (see ``diagnose_heldout.applies``).
Writes ``benchmarks/results/diagnose_blind13.md``.
"""

from __future__ import annotations

import torch

from diagnose_eval import background_mask, patch_box, shoot, srgb_edit, subject_matte
from diagnose_heldout import blur_by_field, run_blind


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    if background.any():
        ghost = torch.roll(matte, 5, dims=1)[None]
        haunted = pinhole * (1 - 0.4 * ghost) + 0.4 * ghost * torch.roll(pinhole, 5, dims=2)
        plate, _ = shoot(torch.where(matte[None] > 0.5, pinhole, haunted), depth, lens)
        hard = (matte > 0.5).float()
        yield "cutout", "ghost-outline", hard * pinhole + (1 - hard) * plate
    rows, columns = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    above = rows < columns  # above the main diagonal, from the top left to the bottom right
    yield "absent-distance", "diagonal-halves", blur_by_field(pinhole, depth, lens, matte, torch.where(above, 0.0, 2.0))
    left = (torch.arange(w) < w // 2).float()[None, None]
    six, _ = shoot(pinhole, depth, lens, "blades:n=6")
    eight, _ = shoot(pinhole, depth, lens, "blades:n=8")
    yield "contradictory-optics", "six-and-eight-blades", left * six + (1 - left) * eight
    gammas = torch.tensor([0.8, 1.2, 0.8])[:, None, None]
    graded = srgb_edit(clean, lambda s: s.clamp_min(0) ** gammas)
    yield "failed-hierarchy", "channel-gamma-grade", torch.where(background[None], graded, clean)
    box = patch_box(background, min(h, w) * 0.18, rng)
    if box is not None:
        elsewhere = torch.roll(pinhole, (h // 2, w // 2), dims=(1, 2))
        transplanted = clean.clone()
        transplanted[:, box[0], box[1]] = elsewhere[:, box[0], box[1]]
        yield "fine-pattern", "transplanted-sharp-crop", transplanted


if __name__ == "__main__":
    run_blind(recipes, "diagnose_blind13.md", __doc__.splitlines()[0], seed=39)

"""`bokehsim diagnose` on a second set of corruptions made differently (blind, seventh round).

    PYTHONPATH=$PWD python benchmarks/diagnose_blind7.py [--ground-truth out/de64b/gt]

The sixth round's recipes (``diagnose_heldout.py``) were looked at and worked on, so they count as
seen. These five were written (2026-12-07) before any result on them, and are not to be tuned on:

* ``cutout`` / ``wide-feather``: the subject pasted with a wide feather (its matte blurred by 6 px)
  on a plate the lens blurred at the background's median depth, made from the picture with the
  subject smeared over by its row's background (a crude inpaint): a ghost of the sharp subject
  fading into the plate around it;
* ``absent-distance`` / ``radial-blur``: blur that grows from the frame's centre to its corners
  whatever the depth (a phone's "portrait vignette"): the lens's renders at 2N, N and N/2 blended
  by the distance from the centre; the in-focus subject kept. It needs a defocused background but
  not several distances: one distance blurred three ways is as wrong;
* ``contradictory-optics`` / ``oval-quadrant``: the top-right quadrant through an oval aperture
  (aspect 1.8, tilted 45 degrees), the rest round;
* ``failed-hierarchy`` / ``exposure-lift``: the background one stop brighter and its colour 1.3x
  (in sRGB about its grey);
* ``fine-pattern`` / ``sharp-glyphs``: a patch of the defocused region printed with sharp 1 px
  strokes, 3-7 px long, horizontal and vertical at random, 35 % darker: lettering left sharp.

The rules of the evaluation leave out what a scene cannot show (see ``diagnose_heldout.applies``).
Writes ``benchmarks/results/diagnose_blind7.md``.
"""

from __future__ import annotations

import math

import torch

from bokehsim.diagnosis.filters import gaussian_blur
from diagnose_eval import background_mask, patch_box, shoot, srgb_edit, subject_matte
from diagnose_heldout import blur_by_field, run_blind


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    if background.any():
        yield "cutout", "wide-feather", _wide_feather(pinhole, depth, lens, matte, background)
        yield "absent-distance", "radial-blur", _radial_blur(pinhole, depth, lens, matte)
    ovals, _ = shoot(pinhole, depth, lens, "oval:aspect=1.8,angle=45")
    quadrant = torch.zeros(1, h, w)
    quadrant[:, : h // 2, w // 2:] = 1.0
    yield "contradictory-optics", "oval-quadrant", quadrant * ovals + (1 - quadrant) * clean

    def lift(x: torch.Tensor) -> torch.Tensor:
        grey = x.mean(0, keepdim=True)
        return grey + (x - grey) * 1.3

    lifted = srgb_edit((clean * 2.0).clamp(0, 1), lift)
    yield "failed-hierarchy", "exposure-lift", torch.where(background[None], lifted, clean)
    box = patch_box(background, min(h, w) * 0.2, rng)
    if box is not None:
        yield "fine-pattern", "sharp-glyphs", _glyphs(clean, box, rng)


def _wide_feather(pinhole, depth, lens, matte, background) -> torch.Tensor:
    h, w = depth.shape
    smeared = pinhole.clone()
    for y in range(h):  # each subject pixel takes its row's mean background colour
        row_background = background[y]
        fill = pinhole[:, y, row_background].mean(1) if row_background.any() else pinhole[:, background].mean(1)
        smeared[:, y, matte[y] > 0.5] = fill[:, None]
    flat = torch.full_like(depth, float(depth[background].median()))
    plate, _ = shoot(smeared, flat, lens)
    feather = gaussian_blur(matte[None], 6.0)[0].clamp(0, 1)
    return feather * pinhole + (1 - feather) * plate


def _radial_blur(pinhole, depth, lens, matte) -> torch.Tensor:
    h, w = depth.shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    radius = torch.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2) / math.hypot((h - 1) / 2, (w - 1) / 2)
    return blur_by_field(pinhole, depth, lens, matte, (radius * 2).clamp(0, 2))  # 0 at the centre, 2 at the corners


def _glyphs(clean: torch.Tensor, box, rng: torch.Generator) -> torch.Tensor:
    ink = torch.zeros(clean.shape[1:])
    height, width = ink.shape
    y0, y1, x0, x1 = box[0].start, min(box[0].stop, height), box[1].start, min(box[1].stop, width)
    strokes = max(1, (y1 - y0) * (x1 - x0) // 40)
    for _ in range(strokes):
        y = int(torch.randint(y0, max(y0 + 1, y1 - 7), (1,), generator=rng))
        x = int(torch.randint(x0, max(x0 + 1, x1 - 7), (1,), generator=rng))
        length = int(torch.randint(3, 8, (1,), generator=rng))
        if bool(torch.rand(1, generator=rng) < 0.5):
            ink[y, x:x + length] = 1.0
        else:
            ink[y:y + length, x] = 1.0
    return clean * (1 - 0.35 * ink)


if __name__ == "__main__":
    run_blind(recipes, "diagnose_blind7.md", __doc__.splitlines()[0], seed=17)

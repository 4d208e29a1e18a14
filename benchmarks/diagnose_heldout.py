"""`bokehsim diagnose` on corruptions made differently from its evaluation set's: blind detection.

    PYTHONPATH=$PWD python benchmarks/diagnose_heldout.py [--ground-truth out/de64b/gt]

Uses the ground-truth scenes that ``diagnose_eval.py`` renders (``OUT/gt``: pinhole, depth, lens).
One recipe per sign, each unlike every recipe of the evaluation set, written (2026-12-06, sixth
round) before any result on them was seen, and not to be tuned on:

* ``cutout`` / ``outer-glow``: the subject pasted with a hard matte on a plate the lens blurred at
  the background's median depth (its own blur about right), with a soft light glow around it (the
  matte blurred by 4 px, outside the subject, added in sRGB): the "outer glow" of a composite;
* ``absent-distance`` / ``two-depth-blur``: the background rendered as if at two distances only, the
  near and the far half of it (split at its median inverse depth) each at its own median depth:
  blur that steps once, where the depth does not, and is flat on each side;
* ``contradictory-optics`` / ``oval-centre-round-edge``: the frame's centre (within 0.45 of the half
  diagonal) through an anamorphic lens (squeeze 1.6), the rest through a round aperture: ovals at the
  centre and round discs at the edge, the reverse of a cat-eye's trend;
* ``failed-hierarchy`` / ``split-tone``: a strong teal-and-orange grade on the background only
  (shadows pushed to teal, highlights to orange, by luma);
* ``fine-pattern`` / ``hatching-patch``: 1 px hatching lines at two angles, 20 % contrast, printed on
  a patch of the defocused region.

The same rules as the evaluation leave out what a scene cannot show (``has_subject_edge``,
``has_background_depths``, ``has_point_lights``, ``background_louder``, ``visible``). Writes
``benchmarks/results/diagnose_heldout.md``: per recipe, the right ``primary`` and flagged at all.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bokehsim.diagnosis import diagnose
from bokehsim.diagnosis.filters import gaussian_blur, luminance
from bokehsim.diagnosis.shot import dilate
from diagnose_eval import (background_louder, background_mask, has_background_depths, has_point_lights,
                           has_subject_edge, held_out_arguments, patch_box, rendered_scenes, shoot, srgb_edit,
                           subject_matte, to_8bit, visible)


def recipes(pinhole: torch.Tensor, depth: torch.Tensor, lens, clean: torch.Tensor, rng: torch.Generator):
    """(sign, recipe, picture) of every corruption of one scene (module docstring)."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    background = background_mask(depth, lens)
    coc = lens.coc_px(depth, w).abs()
    if background.any():
        flat = torch.full_like(depth, float(depth[background].median()))
        plate, _ = shoot(pinhole, flat, lens)
        glow = (gaussian_blur(matte[None], 4.0)[0] * (1 - matte)).clamp(0, 1)
        pasted = matte * pinhole + (1 - matte) * plate
        yield "cutout", "outer-glow", srgb_edit(pasted, lambda x: x + 0.35 * glow)
    behind = coc >= 2.0
    if int(behind.sum()) >= 100:
        inverse = 1.0 / depth.clamp_min(1e-3)
        split = float(inverse[behind].median())
        near, far = behind & (inverse >= split), behind & (inverse < split)
        stepped = depth.clone()
        stepped[near], stepped[far] = float(depth[near].median()), float(depth[far].median())
        yield "absent-distance", "two-depth-blur", shoot(pinhole, stepped, lens)[0]
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    centre = (torch.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2) / math.hypot((h - 1) / 2, (w - 1) / 2) < 0.45).float()
    ovals, _ = shoot(pinhole, depth, lens, "anamorphic:squeeze=1.6")
    yield "contradictory-optics", "oval-centre-round-edge", centre * ovals + (1 - centre) * clean

    def split_tone(x: torch.Tensor) -> torch.Tensor:
        luma = luminance(x)[None]
        teal, orange = torch.tensor([-0.10, 0.04, 0.12])[:, None, None], torch.tensor([0.14, 0.05, -0.10])[:, None, None]
        return x + (1 - luma) * teal + luma * orange

    graded = srgb_edit(clean, split_tone)
    yield "failed-hierarchy", "split-tone", torch.where(background[None], graded, clean)
    box = patch_box(background, min(h, w) * 0.2, rng)
    if box is not None:
        lines = (((xx + 2 * yy) % 5) < 1) | (((2 * xx - yy) % 7) < 1)
        hatched = clean.clone()
        hatched[:, box[0], box[1]] = (clean * (1 - 0.2 * lines.float()))[:, box[0], box[1]]
        yield "fine-pattern", "hatching-patch", hatched


#: Blur that varies across the frame whatever the depth is wrong at one distance as at several: these
#: recipes (the seventh to tenth rounds') need no background distances.
ANY_DISTANCES = ("radial-blur", "blur-by-brightness", "blotchy-blur", "top-bottom-blur")


def blur_by_field(pinhole: torch.Tensor, depth: torch.Tensor, lens, matte: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """The lens's renders at 2N, N and N/2 blended by ``level`` ((H, W), 0 to 2: the render's index,
    blended linearly between), whatever the depth; the in-focus subject (``matte``) kept at N."""
    levels = [shoot(pinhole, depth, replace(lens, f_number=lens.f_number * k))[0] for k in (2.0, 1.0, 0.5)]
    blended = sum((1 - (level - k).abs()).clamp_min(0) * render for k, render in enumerate(levels))
    return matte * levels[1] + (1 - matte) * blended


def applies(sign: str, recipe: str, picture: torch.Tensor, depth: torch.Tensor, lens, lights: bool) -> bool:
    """Whether the scene can show this corruption (the evaluation's rules)."""
    return {"cutout": has_subject_edge(depth, lens), "contradictory-optics": lights,
            "absent-distance": recipe in ANY_DISTANCES or has_background_depths(depth, lens),
            "failed-hierarchy": background_louder(picture, depth, lens)}.get(sign, True)


def run_blind(recipes, results_name: str, description: str, seed: int, applies=applies) -> None:
    """Diagnose every recipe's picture of every scene the scene can show; write the results table."""
    args = held_out_arguments(description, results_name)
    rng = torch.Generator().manual_seed(seed)
    rows, left_out = [], 0
    for scene, pinhole, depth, lens in rendered_scenes(args.ground_truth):
        hdr = torch.from_numpy(np.load(args.ground_truth / scene / "pinhole.npy")).float()
        hdr = hdr.permute(2, 0, 1) if hdr.shape[-1] == 3 else hdr
        lights = has_point_lights(hdr, depth, lens)
        clean, _ = shoot(pinhole, depth, lens)
        reference = to_8bit(clean)
        for sign, recipe, picture in recipes(pinhole, depth, lens, clean, rng):
            picture = to_8bit(picture)
            if not applies(sign, recipe, picture, depth, lens, lights) or not visible(picture, reference):
                left_out += 1
                continue
            report = diagnose(picture, depth, lens)
            flagged = [s.sign for s in report.signs if s.flagged]
            rows.append({"scene": scene, "sign": sign, "recipe": recipe, "primary": report.primary, "flagged": flagged})
            print(f"{scene:22s} {recipe:24s} primary {report.primary or '-':20s} flagged {flagged or '-'}", flush=True)
    write_results(args.results, rows, left_out, Path(sys.argv[0]).name)


def main() -> None:
    run_blind(recipes, "diagnose_heldout.md", __doc__.splitlines()[0], seed=11)


def write_results(path, rows: list[dict], left_out: int, script: str) -> None:
    lines = ["# diagnose on corruptions made differently (blind)", "",
             f"Made by `benchmarks/{script}` (see its docstring: one recipe per sign, written before any "
             f"result on them was seen). {left_out} corruptions left out where the scene cannot show them.", "",
             "| scene | sign | recipe | primary | flagged |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r['scene']} | {r['sign']} | {r['recipe']} | {r['primary'] or '-'} | {', '.join(r['flagged']) or '-'} |" for r in rows]
    lines += ["", "| recipe | right primary | flagged at all |", "| --- | --- | --- |"]
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        own = [r for r in rows if r["recipe"] == recipe]
        right = sum(r["primary"] == r["sign"] for r in own)
        flagged = sum(r["sign"] in r["flagged"] for r in own)
        lines.append(f"| {recipe} | {right}/{len(own)} | {flagged}/{len(own)} |")
    right = sum(r["primary"] == r["sign"] for r in rows)
    lines += ["", f"All: right primary on {right} of {len(rows)}."]
    path.write_text("\n".join(lines) + "\n")
    print(json.dumps({"right": right, "of": len(rows)}))


if __name__ == "__main__":
    main()

"""`bokehsim fix` on corruptions that neither fix nor diagnose was built on: does it ever make a
picture worse?

    PYTHONPATH=$PWD python benchmarks/fix_heldout.py [--ground-truth out/de64b/gt]

Uses the ground-truth scenes that ``diagnose_eval.py`` renders (``OUT/gt``: pinhole, depth, lens),
clipped to [0, 1] like an 8-bit generator's picture, with bokehsim's physical render as the
reference. Six recipes, none of them in either evaluation set:

* ``motion-plate``: the sharp subject pasted on a plate blurred by a horizontal box as long as the
  background's CoC (the subject smeared into it; vertical detail kept sharp);
* ``feathered-lens-plate``: the subject pasted with a soft (Gaussian, sigma 1.5 px) matte on a plate
  rendered by the lens at the far background's single depth;
* ``hex-plate``: the same plate through a six-bladed aperture, pasted with a hard matte;
* ``thin-bright-rim``: the physical render with a 1 px light rim (60 % white) around the subject;
* ``noise-all``: the physical render with Gaussian noise of 2 sRGB codes everywhere;
* ``dots-patch``: a patch of the background sprinkled with single white pixels (3 %).

Reports PSNR (8-bit sRGB) against the reference before and after fix (grain off, as in
``fix_eval.py --diagnose-set``) and whether the subject's codes are unchanged; writes
``benchmarks/results/fix_heldout.md``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from bokehsim import Lens
from bokehsim.diagnosis.filters import gaussian_blur
from bokehsim.diagnosis.shot import dilate
from bokehsim.repair import fix
from bokehsim.tone import linear_to_srgb, srgb_to_linear
from diagnose_eval import background_mask, held_out_arguments, patch_box, rendered_scenes, shoot, subject_matte, to_8bit
from fix_eval import codes, psnr


def corruptions(pinhole: torch.Tensor, depth: torch.Tensor, lens: Lens, reference: torch.Tensor,
                rng: torch.Generator) -> list[tuple[str, torch.Tensor]]:
    """(recipe, linear picture) for every recipe of the module docstring."""
    height, width = depth.shape
    matte, background = subject_matte(depth, lens), background_mask(depth, lens)
    coc = lens.coc_px(depth, width).abs()
    far_coc = float(coc[background].median()) if background.any() else 8.0
    far = torch.full_like(depth, float(depth[background].median()) if background.any() else lens.focus_distance_m * 3)
    items = []
    length = max(3, int(far_coc)) | 1
    streaked = F.conv2d(F.pad(pinhole[:, None], (length // 2, length // 2, 0, 0), mode="replicate"),
                        torch.full((1, 1, 1, length), 1.0 / length))[:, 0]
    items.append(("motion-plate", matte * pinhole + (1 - matte) * streaked))
    plate, _ = shoot(pinhole, far, lens)
    soft = gaussian_blur(matte, 1.5).clamp(0, 1)
    items.append(("feathered-lens-plate", soft * pinhole + (1 - soft) * plate))
    hexagonal, _ = shoot(pinhole, far, lens, "blades:n=6")
    items.append(("hex-plate", matte * pinhole + (1 - matte) * hexagonal))
    rim = (dilate(matte > 0.5, 1) & ~(matte > 0.5)).float()[None]
    items.append(("thin-bright-rim", reference * (1 - 0.6 * rim) + 0.6 * rim))
    noisy = linear_to_srgb(reference) + torch.randn(reference.shape, generator=rng) * (2.0 / 255)  # in codes
    items.append(("noise-all", srgb_to_linear(noisy.clamp(0, 1))))
    box = patch_box(background, min(height, width) * 0.2, rng)
    if box is not None:
        dots = (torch.rand(height, width, generator=rng) < 0.03).float()[None]
        sprinkled = reference.clone()
        sprinkled[:, box[0], box[1]] = (reference * (1 - dots) + dots)[:, box[0], box[1]]
        items.append(("dots-patch", sprinkled))
    return items


def main() -> None:
    args = held_out_arguments(__doc__.splitlines()[0], "fix_heldout.md")
    rng = torch.Generator().manual_seed(7)
    rows = []
    for scene, pinhole, depth, lens in rendered_scenes(args.ground_truth):
        reference, _ = shoot(pinhole, depth, lens)
        for recipe, picture in corruptions(pinhole, depth, lens, reference, rng):
            picture = to_8bit(picture.clamp(0, 1))
            result = fix(picture, depth, lens, seed=0, grain="off")
            subject = result.protected
            same = bool(torch.equal(codes(result.image)[:, subject], codes(picture)[:, subject]))
            rows.append((scene, recipe, psnr(picture, reference), psnr(result.image, reference), same))
            print(f"{scene:22s} {recipe:22s} {rows[-1][2]:6.2f} -> {rows[-1][3]:6.2f} dB, subject same {same}",
                  flush=True)
    write_results(args.results, rows)


def write_results(path: Path, rows: list[tuple[str, str, float, float, bool]]) -> None:
    changes = [after - before for _, _, before, after, _ in rows]
    lines = ["# fix on held-out corruptions", "",
             "Made by `benchmarks/fix_heldout.py` (see its docstring for the recipes). PSNR against bokehsim's "
             "physical render, 8-bit sRGB, whole frame.", "",
             "| scene | recipe | before (dB) | after (dB) | change | subject codes unchanged |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {scene} | {recipe} | {before:.2f} | {after:.2f} | {after - before:+.2f} | {same} |"
              for scene, recipe, before, after, same in rows]
    lines += ["", "| recipe | n | mean change | worst | best |", "| --- | --- | --- | --- | --- |"]
    for recipe in dict.fromkeys(recipe for _, recipe, *_ in rows):
        own = [after - before for _, name, before, after, _ in rows if name == recipe]
        lines.append(f"| {recipe} | {len(own)} | {sum(own) / len(own):+.2f} dB | {min(own):+.2f} | {max(own):+.2f} |")
    lines += ["", f"All {len(rows)}: mean {sum(changes) / len(changes):+.2f} dB, worst {min(changes):+.2f} dB, "
              f"{sum(change < -0.1 for change in changes)} more than 0.1 dB lower; subject codes unchanged on "
              f"{sum(same for *_, same in rows)} of {len(rows)}."]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

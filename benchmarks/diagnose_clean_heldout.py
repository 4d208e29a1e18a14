"""`bokehsim diagnose` on clean pictures made differently from its evaluation set's: false alarms.

    PYTHONPATH=$PWD python benchmarks/diagnose_clean_heldout.py [--ground-truth out/de64b/gt]

Uses the ground-truth scenes that ``diagnose_eval.py`` renders (``OUT/gt``: pinhole, depth, lens),
rendered by bokehsim (a physically consistent picture: nothing is wrong with any of them) in ways
the evaluation set has none of, 8-bit like a generator's output:

* ``f-number x1.4``, ``swirl`` (0.5), ``anamorphic`` (squeeze 1.5), ``5 curved blades``: other
  lenses, each diagnosed with its own f-number;
* ``noise 2 codes``: Gaussian noise of 2 sRGB codes;
* ``downscaled 0.75``: the picture area-averaged to 3/4 size, the depth map resampled (nearest);
* ``enlarged 2x`` (bicubic, as an upscaler would) and ``rendered at 3x`` (the pinhole picture and
  the depth map enlarged 3x, then the lens): pictures larger than the evaluation's, whose softness
  spans more pixels (added 2026-12-07, stop 38, with diagnose's working size);
* ``JPEG quality 75``: the 8-bit picture saved as a JPEG (as generated pictures are shared) and read
  back (added in stop 38);
* ``depth shifted 1 px`` (right, left, down, up): the depth map a pixel off the picture, as a
  resampled or estimated depth map is.

Reports the signs flagged on each picture and writes ``benchmarks/results/diagnose_clean_heldout.md``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import imageio.v3 as iio
import torch
import torch.nn.functional as F

from bokehsim import Lens
from bokehsim.diagnosis import diagnose
from bokehsim.tone import linear_to_srgb, srgb_to_linear
from diagnose_eval import held_out_arguments, rendered_scenes, shoot, to_8bit

SHIFTS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}


def variants(pinhole: torch.Tensor, depth: torch.Tensor, lens: Lens, rng: torch.Generator):
    """(name, picture, depth, lens) of every clean variant of one scene (module docstring)."""
    for name, variant_lens, aperture in [("f-number x1.4", replace(lens, f_number=lens.f_number * 1.4), "circle"),
                                         ("swirl", lens, "swirl:strength=0.5"),
                                         ("anamorphic", lens, "anamorphic:squeeze=1.5"),
                                         ("5 curved blades", lens, "blades:n=5,curvature=0.3")]:
        yield name, shoot(pinhole, depth, variant_lens, aperture)[0], depth, variant_lens
    clean, _ = shoot(pinhole, depth, lens)
    noisy = linear_to_srgb(clean) + torch.randn(clean.shape, generator=rng) * (2.0 / 255)
    yield "noise 2 codes", srgb_to_linear(noisy.clamp(0, 1)), depth, lens
    small = F.interpolate(clean[None], scale_factor=0.75, mode="area")[0]
    yield "downscaled 0.75", small, F.interpolate(depth[None, None], size=small.shape[-2:], mode="nearest-exact")[0, 0], lens
    yield "enlarged 2x", F.interpolate(clean[None], scale_factor=2, mode="bicubic", align_corners=False)[0].clamp(0, 1), \
        F.interpolate(depth[None, None], scale_factor=2, mode="nearest-exact")[0, 0], lens
    large_depth = F.interpolate(depth[None, None], scale_factor=3, mode="nearest-exact")[0, 0]
    large_pinhole = F.interpolate(pinhole[None], scale_factor=3, mode="bicubic", align_corners=False)[0].clamp(0, 1)
    yield "rendered at 3x", shoot(large_pinhole, large_depth, lens)[0], large_depth, lens
    yield "JPEG quality 75", jpeg(clean, 75), depth, lens
    for name, shift in SHIFTS.items():
        yield f"depth shifted 1 px {name}", clean, torch.roll(depth, shift, (0, 1)), lens


def jpeg(linear: torch.Tensor, quality: int) -> torch.Tensor:
    """The picture saved as an 8-bit sRGB JPEG at ``quality`` and read back, linear."""
    codes = (linear_to_srgb(linear.clamp(0, 1)) * 255).round().byte().permute(1, 2, 0).numpy()
    back = iio.imread(iio.imwrite("<bytes>", codes, extension=".jpg", quality=quality))
    return srgb_to_linear(torch.from_numpy(back).float().permute(2, 0, 1) / 255)


def main() -> None:
    run_clean(variants, "diagnose_clean_heldout.md", __doc__.splitlines()[0])


def run_clean(variants, results_name: str, description: str, seed: int = 3) -> None:
    """Diagnose every ``variants(pinhole, depth, lens, rng)`` picture of every scene; write the table."""
    args = held_out_arguments(description, results_name)
    rng = torch.Generator().manual_seed(seed)
    rows = []
    for scene, pinhole, depth, lens in rendered_scenes(args.ground_truth):
        for name, picture, picture_depth, picture_lens in variants(pinhole, depth, lens, rng):
            report = diagnose(to_8bit(picture), picture_depth, picture_lens)
            flagged = [sign.sign for sign in report.signs if sign.flagged]
            rows.append((scene, name, report.score, flagged))
            print(f"{scene:22s} {name:26s} score {report.score:5.1f} flagged {flagged or '-'}", flush=True)
    write_results(args.results, rows, Path(sys.argv[0]).name)


def write_results(path: Path, rows, script: str) -> None:
    lines = ["# diagnose on clean pictures made differently", "",
             f"Made by `benchmarks/{script}` (see its docstring). Every picture is a physically "
             "consistent render: any flag is a false alarm.", "",
             "| scene | picture | score | flagged |", "| --- | --- | --- | --- |"]
    lines += [f"| {scene} | {name} | {score:.1f} | {', '.join(flagged) or '-'} |" for scene, name, score, flagged in rows]
    lines += ["", "| picture | flagged |", "| --- | --- |"]
    for name in dict.fromkeys(name for _, name, _, _ in rows):
        own = [flagged for _, other, _, flagged in rows if other == name]
        lines.append(f"| {name} | {sum(bool(f) for f in own)} of {len(own)} |")
    alarms = sum(bool(flagged) for *_, flagged in rows)
    lines += ["", f"All: {alarms} of {len(rows)} pictures flagged (the target is at most 1 in 8)."]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""`bokehsim diagnose` on clean pictures passed through what pictures meet on their way: false alarms.

    PYTHONPATH=$PWD python benchmarks/diagnose_robustness.py [--ground-truth out/de64b/gt]

Each scene's clean render (the lens of ``scene.json``, round aperture) and its render at twice the
f-number through six blades, as ``diagnose_eval.py`` makes them, then:

* ``JPEG quality 90 / 75 / 50``: saved as an 8-bit sRGB JPEG and read back;
* ``noise 4 codes``: Gaussian noise of 4 sRGB codes per channel; ``grain 8 codes``: grey grain of 8;
* ``sharpened``: an unsharp mask on the sRGB picture (1x the difference from a 1.5 px Gaussian), as
  cameras and upscalers sharpen;
* ``enlarged 2x``: bicubic, with the depth map (nearest).

Nothing here changes the optics: any flag is a false alarm (the target is at most 1 in 8). Written
in stop 38 (2026-12-07), after the working size, the band-detail flag floor and the band-scale
texture test were set from probes like these; it records where diagnose still over-reads them.
Writes ``benchmarks/results/diagnose_robustness.md``.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from bokehsim.diagnosis.filters import gaussian_blur
from bokehsim.tone import linear_to_srgb, srgb_to_linear
from diagnose_clean_heldout import jpeg, run_clean
from diagnose_eval import shoot


def variants(pinhole: torch.Tensor, depth: torch.Tensor, lens, rng: torch.Generator):
    """(name, picture, depth, lens) of every variant of one scene (module docstring)."""
    for render_name, render_lens, aperture in (("", lens, "circle"),
                                                (", 2N blades", replace(lens, f_number=2 * lens.f_number), "blades:n=6,rotation=10")):
        clean, _ = shoot(pinhole, depth, render_lens, aperture)
        srgb = linear_to_srgb(clean.clamp(0, 1))
        for quality in (90, 75, 50):
            yield f"JPEG quality {quality}{render_name}", jpeg(clean, quality), depth, render_lens
        noisy = srgb + torch.randn(srgb.shape, generator=rng) * (4.0 / 255)
        grainy = srgb + torch.randn(1, *srgb.shape[1:], generator=rng) * (8.0 / 255)
        sharpened = srgb + (srgb - gaussian_blur(srgb, 1.5))
        for name, edited in (("noise 4 codes", noisy), ("grain 8 codes", grainy), ("sharpened", sharpened)):
            yield name + render_name, srgb_to_linear(edited.clamp(0, 1)), depth, render_lens
        enlarged = F.interpolate(clean[None], scale_factor=2, mode="bicubic", align_corners=False)[0].clamp(0, 1)
        yield "enlarged 2x" + render_name, enlarged, F.interpolate(depth[None, None], scale_factor=2, mode="nearest-exact")[0, 0], render_lens


if __name__ == "__main__":
    run_clean(variants, "diagnose_robustness.md", __doc__.splitlines()[0], seed=5)

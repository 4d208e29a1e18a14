"""`bokehsim diagnose` on clean renders of generated scenes (not the ground-truth scenes): false alarms.

    PYTHONPATH=$PWD python benchmarks/diagnose_clean_generated.py [--seeds 12]

Every other false-alarm table renders the eight Mitsuba scenes of ``scenes/gt``. These are
``fix_eval.scene``'s procedural scenes instead (a textured subject at the focus distance, a far
textured background, a nearer wall to one side, one in three with a defocused foreground twig;
f/1.8-2.8 at 85 mm), rendered by bokehsim (physically consistent: any flag is a false alarm), 8-bit
sRGB, at 320 and 480 px wide, in two texture families:

* ``stripes``: ``fix_eval.texture``, sinusoidal stripes of 3-16 px period times smooth colour
  blobs: a periodic texture, as fabrics, blinds, fences and brickwork are;
* ``natural``: colour noise with a 1/f amplitude spectrum, the statistics of natural images.

Writes ``benchmarks/results/diagnose_clean_generated.md``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from bokehsim import render_full
from bokehsim.diagnosis import diagnose
from diagnose_clean_heldout import write_results
from diagnose_eval import to_8bit
from fix_eval import scene, texture

ROOT = Path(__file__).resolve().parents[1]


def natural_texture(height: int, width: int, seed: int, period_px: float) -> torch.Tensor:
    """Colour noise with a 1/f amplitude spectrum, mostly shared by the channels, linear light
    (``period_px`` is unused: the spectrum has every scale)."""
    g = torch.Generator().manual_seed(seed)
    fy, fx = torch.fft.fftfreq(height)[:, None], torch.fft.rfftfreq(width)[None]
    amplitude = 1.0 / torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / max(height, width))
    channels = []
    for _ in range(3):
        phase = torch.rand(height, width // 2 + 1, generator=g) * 2 * math.pi
        noise = torch.fft.irfft2(amplitude * torch.exp(1j * phase), s=(height, width))
        channels.append((noise - noise.mean()) / noise.std())
    colour = torch.stack(channels)
    mixed = 0.7 * colour.mean(0, keepdim=True) + 0.3 * colour
    return (0.45 + 0.18 * mixed).clamp(0, 1) ** 2.2


FAMILIES = {"stripes": texture, "natural": natural_texture}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "diagnose_clean_generated.md")
    args = parser.parse_args()
    rows = []
    for family, paint in FAMILIES.items():
        for width in (320, 480):
            for seed in range(args.seeds):
                sharp, depth, lens = scene(width, seed, paint)
                report = diagnose(to_8bit(render_full(sharp, depth, lens).image), depth, lens)
                flagged = [sign.sign for sign in report.signs if sign.flagged]
                rows.append((f"{family} {width} px #{seed}", family, report.score, flagged))
                print(f"{family} {width} {seed:2d} score {report.score:5.1f} flagged {flagged or '-'}", flush=True)
    write_results(args.results, rows, Path(__file__).name)


if __name__ == "__main__":
    main()

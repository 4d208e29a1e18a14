"""A point's energy through the renderer across the frame, for the vignetted apertures.

The issue's frame: 320 x 320 px, |c| = 18 px (85 mm f/1.4 focused at 2 m, a light at 8 m, full
frame), a point at the frame centre and at twelve other field positions (corners, edge middles,
points a fifth to a third of the way out), rendered at once on a plane at one depth; each point's
output over the plane rendered alone, summed over its own square. Two tables (docs/accuracy.md
"Kernel energy"), each the centre and the range elsewhere, behind and in front of focus:

* a light (1000, linear, on a plane of 0.05): composited as emission, never divided by coverage;
* a bright surface detail (0.9 on a plane of 0.1: no light), divided by its layer's coverage like
  every surface, so that a uniform plane stays uniform.

    PYTHONPATH=$PWD python benchmarks/kernel_energy.py
"""

from __future__ import annotations

import torch

from bokehsim.aperture import parse_aperture
from bokehsim.render import render_channels

SIZE, COC_PX = 320, 18.0
CENTRE = (160, 160)
ELSEWHERE = [(11, 11), (11, 308), (308, 11), (308, 308), (11, 160), (160, 11), (308, 160), (160, 308),
             (100, 220), (220, 100), (60, 60), (260, 130)]
SPECS = ["cat-eye:strength=0.1", "cat-eye:strength=0.3", "cat-eye:strength=0.6", "cat-eye:strength=0.9",
         "swirl:strength=0.5", "swirl:strength=0.9", "anamorphic:squeeze=2,cat_eye=0.5",
         "cat-eye:strength=0.3,blades=7", "anamorphic:squeeze=2,blades=7,cat_eye=0.5"]


def energies(spec: str, coc_px: float, value: float, level: float) -> list[float]:
    """Each point's light over what it brings (``value - level`` on a plane of ``level``), the centre first."""
    positions = [CENTRE, *ELSEWHERE]
    plane = torch.full((1, SIZE, SIZE), level, dtype=torch.float64)
    picture = plane.clone()
    for y, x in positions:
        picture[0, y, x] = value
    coc, aperture = torch.full((SIZE, SIZE), coc_px, dtype=torch.float64), parse_aperture(spec)
    excess = render_channels(picture, coc, aperture)[0] - render_channels(plane, coc, aperture)[0]
    half = int(abs(coc_px) / 2) + 2
    return [float(excess[0, y - half:y + half + 1, x - half:x + half + 1].sum()) / (value - level) for y, x in positions]


def cell(values: list[float]) -> str:
    return f"{values[0]:.4f} / {min(values[1:]):.4f}-{max(values[1:]):.4f}"


def main() -> None:
    for title, value, level in (("a light (1000 on 0.05)", 1000.0, 0.05), ("a surface detail (0.9 on 0.1)", 0.9, 0.1)):
        print(f"\n{title}\n\n| aperture | behind focus: centre / elsewhere | in front |\n| --- | --- | --- |")
        for spec in SPECS:
            behind, front = (energies(spec, coc, value, level) for coc in (COC_PX, -COC_PX))
            print(f"| `{spec}` | {cell(behind)} | {cell(front)} |", flush=True)


if __name__ == "__main__":
    main()

"""A point light's energy through the renderer across the frame, for the vignetted apertures.

The issue's frame: 320 x 320 px, |c| = 18 px (85 mm f/1.4 focused at 2 m, a light at 8 m, full
frame), a light of 1000 (linear) at the frame centre and at twelve other field positions (corners,
edge middles, points a fifth to a third of the way out), rendered at once on a black plane at one
depth; each light's output summed over its own square. Prints the markdown table of
docs/accuracy.md "Kernel energy": the centre, and the range elsewhere, behind and in front of focus.

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


def energies(spec: str, coc_px: float) -> list[float]:
    """Each light's output over its input, the centre first."""
    positions = [CENTRE, *ELSEWHERE]
    picture = torch.zeros(1, SIZE, SIZE, dtype=torch.float64)
    for y, x in positions:
        picture[0, y, x] = 1000.0
    image, _, _ = render_channels(picture, torch.full((SIZE, SIZE), coc_px, dtype=torch.float64), parse_aperture(spec))
    half = int(abs(coc_px) / 2) + 2
    return [float(image[0, y - half:y + half + 1, x - half:x + half + 1].sum()) / 1000.0 for y, x in positions]


def cell(values: list[float]) -> str:
    return f"{values[0]:.4f} / {min(values[1:]):.4f}-{max(values[1:]):.4f}"


def main() -> None:
    print("| aperture | behind focus: centre / elsewhere | in front |")
    print("| --- | --- | --- |")
    for spec in SPECS:
        print(f"| `{spec}` | {cell(energies(spec, COC_PX))} | {cell(energies(spec, -COC_PX))} |", flush=True)


if __name__ == "__main__":
    main()

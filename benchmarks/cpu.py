"""CPU benchmark: full layered render (layering, hidden-background fill, scatter, compositing) of a
1920x1080 frame with a CoC ramp. Prints megapixels per second and the process's peak memory.

The ramp's CoC is constant along each row, and the compiled scatter lays the runs of neighbours
that share their CoC together (as pixels of a depth plane do); the "jittered" row gives every pixel
a CoC of its own (+-0.25 px of noise), so no two neighbours share one. The "planes" row is a sharp disc
before a background at CoC 12 px, colours within [0, 1]: no lights, two layers, one hidden
background (the case of most photographs).

    python benchmarks/cpu.py            # every row, each in a fresh process
    python benchmarks/cpu.py ramp16     # one row
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from inputs import coc_map, smooth_colours  # noqa: E402

from bokehsim.aperture import parse_aperture  # noqa: E402
from bokehsim.render import render_channels  # noqa: E402

CASES = {"ramp16": ("ramp", 16.0), "ramp32": ("ramp", 32.0), "ramp16-jittered": ("ramp", 16.0),
         "planes": ("planes", 6.0)}
WIDTH, HEIGHT = 1920, 1080


def two_planes(height: int, width: int, background_coc_px: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Colours within [0, 1] (no lights) and a CoC map: a sharp disc (diameter half the frame height)
    in the middle, the background at ``background_coc_px`` behind it."""
    image = smooth_colours(height, width).clamp(max=1.0)
    ys, xs = torch.arange(height)[:, None] - height / 2, torch.arange(width)[None, :] - width / 2
    disc = ys**2 + xs**2 < (height / 4) ** 2
    return image, torch.where(disc, 0.0, background_coc_px)


def run_case(name: str, repeats: int = 3) -> None:
    kind, radius = CASES[name]
    if kind == "planes":
        image, coc = two_planes(HEIGHT, WIDTH, 2.0 * radius)
    else:
        image, coc = smooth_colours(HEIGHT, WIDTH), coc_map(kind, HEIGHT, WIDTH, radius)
    if name.endswith("jittered"):
        coc = coc + (torch.rand(coc.shape, generator=torch.Generator().manual_seed(1)) - 0.5) * 0.5
    aperture = parse_aperture("circle")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        render_channels(image, coc, aperture)
        times.append(time.perf_counter() - start)
    best = min(times)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    label = f"{kind}{' (jittered)' if name.endswith('jittered') else ''}, radius <= {radius:.0f} px"
    if kind == "planes":
        label = f"sharp disc before a background at CoC {2 * radius:.0f} px (no lights)"
    print(f"| 1920x1080 {label} | {best:.3f} s | {WIDTH * HEIGHT / best / 1e6:.2f} MP/s | {peak_mib:.0f} MiB |")


def main() -> None:
    if len(sys.argv) > 1:
        run_case(sys.argv[1])
        return
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} threads, torch {torch.__version__} "
          f"({torch.get_num_threads()} intra-op threads)")
    print("| input | best of 3 | throughput | peak memory |\n| --- | --- | --- | --- |")
    for name in CASES:
        subprocess.run([sys.executable, __file__, name], check=True)


if __name__ == "__main__":
    main()

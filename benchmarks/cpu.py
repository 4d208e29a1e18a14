"""CPU benchmark: full layered render (layering, hidden-background fill, scatter, compositing) of a
1920x1080 frame with a CoC ramp. Prints megapixels per second and the process's peak memory.

The ramp's CoC is constant along each row, and the compiled scatter reuses a run for neighbours
that share their CoC (as pixels of a depth plane do); the "jittered" row gives every pixel its own
CoC (+-0.25 px of noise), the case where nothing is reused.

    python benchmarks/cpu.py            # both rows, each in a fresh process
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

CASES = {"ramp16": ("ramp", 16.0), "ramp32": ("ramp", 32.0), "ramp16-jittered": ("ramp", 16.0)}
WIDTH, HEIGHT = 1920, 1080


def run_case(name: str, repeats: int = 3) -> None:
    kind, radius = CASES[name]
    image = smooth_colours(HEIGHT, WIDTH)
    coc = coc_map(kind, HEIGHT, WIDTH, radius)
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
    print(f"| 1920x1080 {label} | {best:.2f} s | {WIDTH * HEIGHT / best / 1e6:.2f} MP/s | {peak_mib:.0f} MiB |")


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

"""Focus-pull benchmark: 48 full frames at 1280x720 from one RGB-D frame, written as an mp4.

The scene is a portrait in a room: a floor rising from 1.5 m at the bottom of the frame to 8 m at
the top, a subject (an ellipse) at 2 m, smooth colours with HDR point lights. The pull racks focus
from the subject (2 m) to the back of the room (6 m) over 48 frames (2 s at 24 fps). Times are
wall-clock seconds for everything after the inputs exist: the lens path, 48 renders, the sRGB
encoding and the H.264 encoding (the numba compile of the first frame included).

    python benchmarks/pull.py              # 50 mm f/2 round aperture, then the street-night shot
    python benchmarks/pull.py --frames 12  # a quicker look
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from inputs import smooth_colours  # noqa: E402

from bokehsim.io import display_codes  # noqa: E402
from bokehsim.lens import Lens  # noqa: E402
from bokehsim.looks import resolve_aperture  # noqa: E402
from bokehsim.pull import pull_lenses, render_pull  # noqa: E402
from bokehsim.shot import load_shot  # noqa: E402
from bokehsim.video import write_video  # noqa: E402

WIDTH, HEIGHT = 1280, 720
ROOT = Path(__file__).parent.parent


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    """``(3, H, W)`` linear colours and ``(H, W)`` z-depth in metres."""
    image = smooth_colours(HEIGHT, WIDTH)
    rows = torch.linspace(0.0, 1.0, HEIGHT)[:, None].expand(HEIGHT, WIDTH)
    depth = 1.0 / (1.0 / 8.0 + (1.0 / 1.5 - 1.0 / 8.0) * rows)  # floor: 8 m at the top, 1.5 m at the bottom
    y, x = torch.meshgrid(torch.linspace(-1, 1, HEIGHT), torch.linspace(-1, 1, WIDTH), indexing="ij")
    subject = ((x / 0.25) ** 2 + ((y - 0.2) / 0.7) ** 2) < 1.0
    return image, torch.where(subject, torch.tensor(2.0), depth).contiguous()


def run(label: str, lens: Lens, aperture, frames: int) -> float:
    image, depth = scene()
    start = time.perf_counter()
    lenses = pull_lenses(lens, frames=frames, to_distance_m=6.0)
    outputs = render_pull(image, depth, lenses, aperture=aperture, device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        write_video(Path(folder) / "pull.mp4", (display_codes(out.image.clamp(0, 1)) for out in outputs), fps=24)
    elapsed = time.perf_counter() - start
    print(f"| {label} | {frames} | {elapsed:.1f} s | {elapsed / frames:.2f} s |", flush=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}")
    print("| pull (1280x720, focus 2 m -> 6 m) | frames | total | per frame |")
    print("| --- | ---: | ---: | ---: |")
    run("50 mm f/2, round aperture", Lens(50, 2.0, 2.0), resolve_aperture(None, None, None), args.frames)
    shot = load_shot(ROOT / "scenes" / "shots" / "street-night-50mm.toml")
    run(f"street-night shot: 50 mm f/{shot.f_number:g}, look {shot.look}", shot.lens,
        resolve_aperture(None, None, shot.look), args.frames)


if __name__ == "__main__":
    main()

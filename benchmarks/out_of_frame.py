"""How much of bokehsim's error on a ground-truth scene is the world outside the frame?

A lens brings light into the frame from just outside it (and a defocused foreground that crosses the
border darkens it from outside); a single RGB-D picture does not show what is there, and bokehsim
pads the frame with its edge pixels. This script renders the scene a second time with a wider sensor
(the same focal length and pixel pitch, so the same CoC in px) and a margin on every side wider than
the largest kernel, runs bokehsim on that wider pinhole image and depth, crops the frame out again
and compares both renders with the scene's own reference.

    python benchmarks/out_of_frame.py out/gt256 exterior_twigs [--margin 0.15] [--spp 256]

Prints PSNR, edge PSNR and energy of bokehsim on the frame alone and with the margin known.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import accuracy  # noqa: E402

from bokehsim.lens import sensor_width_mm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def widened_scene(name: str, margin: float, spp: int, folder: Path) -> tuple[Path, int, int]:
    """Render ``scenes/gt/<name>.toml`` with ``margin`` of the width added on every side; returns the
    folder and the crop offsets (x, y) in px of the original frame inside it."""
    source = ROOT / "scenes" / "gt" / f"{name}.toml"
    shot = tomllib.loads(source.read_text())["shot"]
    width, height = shot["width_px"], shot["height_px"]
    extra = round(width * margin)  # px, the same on every side (square pixels)
    scale = (width + 2 * extra) / width
    text = source.read_text()
    if not any(line.split("=")[0].strip() == "sensor" for line in text.splitlines()):
        raise SystemExit(f"{source}: no sensor key to widen")
    sensor = sensor_width_mm(shot.get("sensor", "full-frame"), source=str(source))
    lines = []
    for line in text.splitlines():
        key = line.split("=")[0].strip()
        if key == "sensor":
            line = f"sensor = {sensor * scale!r}"
        elif key == "width_px":
            line = f"width_px = {width + 2 * extra}"
        elif key == "height_px":
            line = f"height_px = {height + 2 * extra}"
        lines.append(line)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.toml").write_text("\n".join(lines) + "\n")
    subprocess.run([sys.executable, "-m", "bokehsim", "groundtruth", str(folder / f"{name}.toml"), "-o",
                    str(folder / "out"), "--spp", str(spp)], check=True)
    return folder / "out" / name, extra, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ground_truth", type=Path, help="folder written by `bokehsim groundtruth`")
    parser.add_argument("scene")
    parser.add_argument("--margin", type=float, default=0.15, help="margin on each side, as a share of the width")
    parser.add_argument("--spp", type=int, default=256)
    args = parser.parse_args()
    frame = accuracy.load_scene_folder(args.ground_truth / args.scene)
    wide_folder, dx, dy = widened_scene(args.scene, args.margin, args.spp, ROOT / "out" / "out_of_frame")
    wide = accuracy.load_scene_folder(wide_folder)
    reference, depth = frame["reference"], frame["depth_m"]
    band = accuracy.edge_band(depth)
    height, width = depth.shape
    alone = accuracy.run_bokehsim(frame["pinhole"], depth, frame["lens"], frame["look"], False)
    known = accuracy.run_bokehsim(wide["pinhole"], wide["depth_m"], wide["lens"], wide["look"], False)
    known = known[:, dy:dy + height, dx:dx + width]
    print(f"{args.scene}: margin {dx} x {dy} px (largest |CoC| {frame['max_coc_px']:.0f} px)")
    for label, output in (("frame alone", alone), ("margin known", known)):
        s = accuracy.scores(output, reference, band)
        print(f"  {label:13s} PSNR {s['psnr']:.2f}  edge {s['edge']:.2f}  energy {s['energy']:.3f}")
    print(f"  input energy (pinhole / reference): {float(frame['pinhole'].sum() / reference.sum()):.3f}")
    wide_reference = wide["reference"][:, dy:dy + height, dx:dx + width]
    print(f"  the wide reference's crop against the frame's reference: energy "
          f"{float(wide_reference.sum() / reference.sum()):.3f}, PSNR "
          f"{accuracy.psnr_db(accuracy.linear_to_srgb(wide_reference.clamp(0, 1)), accuracy.linear_to_srgb(reference.clamp(0, 1))):.2f}")


if __name__ == "__main__":
    main()

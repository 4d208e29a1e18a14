"""Evaluate `bokehsim fix` on a labelled corrupted set against the physical reference.

    PYTHONPATH=$PWD python benchmarks/fix_eval.py [--width 320] [--scenes 4] [--oracle] [--timing]

Scenes are generated here (a textured subject at the focus distance in front of a far textured
background and a nearer wall, one in three with a defocused foreground twig), rendered by bokehsim
as the physical reference, quantised to 8-bit sRGB like a generator's output, and corrupted:

* ``cutout``: the whole picture blurred by one Gaussian (subject included, so its colour smears into
  the plate) and the sharp subject pasted back: a rim, and blur that ignores distance. Severity 1
  and 2: the plate's CoC is 35 % and 60 % of the far background's.
* ``fine-pattern``: the background left sharp (severity 2) or barely blurred (severity 1).

fix measures the blur already in each picture with ``diagnose``'s defocus estimate (``--oracle``
hands it the true one instead: the plate's CoC for cut-outs, the lens's CoC for clean references).
Reports PSNR (8-bit sRGB, whole frame) against the reference before and after, ``diagnose``'s score
before and after, clean references through fix, whether the subject's codes are unchanged, writes ``benchmarks/results/fix.md`` and before / after /
reference pictures of three cases into ``docs/images/``; ``--timing`` adds a 1080p fix's time.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from bokehsim import Lens, io, render_full
from bokehsim.diagnosis import diagnose
from bokehsim.repair import fix
from bokehsim.repair.files import preview
from bokehsim.tone import linear_to_srgb
from diagnose_eval import to_8bit  # the same 8-bit quantisation as diagnose's evaluation set

ROOT = Path(__file__).resolve().parents[1]
#: A cut-out plate's CoC as a fraction of the far background's, by severity.
PLATE_FRACTION = {1: 0.35, 2: 0.6}


def texture(height: int, width: int, seed: int, period_px: float) -> torch.Tensor:
    """A colourful texture with detail at ``period_px`` and coarser: stripes, blobs and noise."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    base = torch.rand(3, 1, 1, generator=g) * 0.6 + 0.2
    angle = float(torch.rand(1, generator=g)) * math.pi
    stripes = 0.5 + 0.5 * torch.sin((x * math.cos(angle) + y * math.sin(angle)) * 2 * math.pi / period_px)
    coarse = F.interpolate(torch.rand(1, 3, height // 16 + 2, width // 16 + 2, generator=g), size=(height, width),
                           mode="bicubic", align_corners=False)[0].clamp(0, 1)
    return (base * (0.5 + 0.5 * stripes) * (0.4 + 0.6 * coarse)).clamp(0, 1) ** 2.2


def scene(width: int, seed: int, paint=texture) -> tuple[torch.Tensor, torch.Tensor, Lens]:
    """(pinhole image linear (3, H, W), depth m (H, W), lens) of one generated scene, its surfaces
    painted by ``paint(height, width, seed, period_px)`` (:func:`texture` by default)."""
    height = width * 2 // 3
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.arange(height, dtype=torch.float32), torch.arange(width, dtype=torch.float32), indexing="ij")
    far = 4.0 + 6.0 * float(torch.rand(1, generator=g))
    depth = torch.full((height, width), far)
    image = paint(height, width, seed, 6 + 10 * float(torch.rand(1, generator=g)))
    # A nearer background plane on one side (a wall a step behind the subject).
    wall = x > width * (0.6 + 0.2 * float(torch.rand(1, generator=g)))
    depth[wall] = far * 0.45
    image[:, wall] = paint(height, width, seed + 100, 5)[:, wall]
    # The subject: an ellipse with a head, at the focus distance.
    cx, cy = width * (0.35 + 0.15 * float(torch.rand(1, generator=g))), height * 0.55
    body = ((x - cx) / (width * 0.12)) ** 2 + ((y - cy) / (height * 0.35)) ** 2 < 1
    head = ((x - cx) ** 2 + (y - cy + height * 0.38) ** 2) < (width * 0.07) ** 2
    subject = body | head
    depth[subject] = 2.0
    image[:, subject] = paint(height, width, seed + 200, 3)[:, subject]
    if seed % 3 == 2:  # a defocused foreground twig across a corner
        twig = ((y - 0.9 * x - height * 0.55).abs() < width * 0.015) & (x < width * 0.3)
        depth[twig] = 1.2
        image[:, twig] = torch.tensor([0.05, 0.2, 0.03])[:, None]
    lens = Lens(focal_length_mm=85, f_number=1.8 + float(torch.rand(1, generator=g)), focus_distance_m=2.0)
    return image, depth, lens


def codes(linear: torch.Tensor) -> torch.Tensor:
    return torch.round(linear_to_srgb(linear.clamp(0, 1)) * 255)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((codes(a) - codes(b)) ** 2).mean())
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def gaussian(image: torch.Tensor, sigma_px: float) -> torch.Tensor:
    radius = max(1, int(3 * sigma_px))
    taps = torch.exp(-0.5 * (torch.arange(-radius, radius + 1, dtype=torch.float32) / sigma_px) ** 2)
    taps = (taps / taps.sum()).to(image.dtype)
    padded = F.pad(image[:, None], (radius, radius, radius, radius), mode="replicate")
    rows = F.conv2d(padded, taps.view(1, 1, 1, -1))
    return F.conv2d(rows, taps.view(1, 1, -1, 1))[:, 0]


def corrupt(kind: str, severity: int, sharp: torch.Tensor, reference: torch.Tensor, coc_px: torch.Tensor) -> torch.Tensor:
    """One corruption of the reference (linear, before 8-bit quantisation)."""
    focused = coc_px.abs() < 0.5
    if kind == "cutout":
        sigma = float(coc_px.abs().max()) / 4 * PLATE_FRACTION[severity]
        plate = gaussian(sharp, sigma)
        return torch.where(focused, sharp, plate)
    if kind == "fine-pattern":
        if severity == 1:
            return torch.where(focused, sharp, gaussian(sharp, 0.6))
        return sharp.clone()
    raise ValueError(kind)


def evaluate(width: int, scenes: int, pictures: Path | None = None, oracle: bool = False) -> list[dict]:
    rows = []
    for seed in range(scenes):
        sharp, depth, lens = scene(width, seed)
        reference = render_full(sharp, depth, lens).image
        coc = lens.coc_px(depth, width)
        plate_px = lambda severity: torch.full_like(coc, float(coc.abs().max()) * PLATE_FRACTION[severity])
        existing = {"clean": lambda _: coc.abs(), "cutout": plate_px,
                    "fine-pattern": lambda severity: torch.full_like(coc, 2.4 if severity == 1 else 0.0)}
        cases = [("clean", 0, reference)] + [(k, s, corrupt(k, s, sharp, reference, coc))
                                              for k in ("cutout", "fine-pattern") for s in (1, 2)]
        for kind, severity, picture in cases:
            picture = to_8bit(picture)
            result = fix(picture, depth, lens, existing_blur_px=existing[kind](severity) if oracle else None, seed=seed)
            rows.append(measured(seed, kind, severity, picture, result, reference, depth, lens))
            if pictures is not None and seed == 0 and severity in (0, 2):
                strip = torch.cat([picture, result.image, reference], dim=2)
                io.write_preview_png(pictures / f"fix_{kind}.png", preview(strip))
    return rows


def evaluate_diagnose_set(folder: Path) -> list[dict]:
    """fix on diagnose's evaluation set (``benchmarks/diagnose_eval.py --out FOLDER``): every cut-out
    and fine-pattern image of the ground-truth scenes, and each scene's clean circle render, against
    bokehsim's physical render of the same pinhole, depth and lens.

    Grain matching is off here: the references' subjects carry the Monte Carlo noise of the pinhole
    renders, which the lens smooths away behind them, so grain matched to the subject would add to
    the background a noise the reference does not have (a difference of the reference, not of fix).
    """
    rows = []
    for scene_name, items in json.loads((folder / "set" / "index.json").read_text()):
        data = torch.load(folder / "set" / f"{scene_name}.pt")
        depth, reference = data["depth"], data["reference"]
        for number, item in enumerate(items):
            if item["truth"] not in ("cutout", "fine-pattern") and item["recipe"] != "circle":
                continue
            picture, lens = data["images"][item["key"]], Lens(**item["lens"])
            result = fix(picture, depth, lens, seed=number, grain="off")
            kind = "clean" if item["truth"] == "clean" else f"{item['truth']} ({item['recipe']})"
            rows.append(measured(scene_name, kind, item["severity"], picture, result, reference, depth, lens))
    return rows


def measured(scene, kind: str, severity, picture: torch.Tensor, result, reference: torch.Tensor,
             depth: torch.Tensor, lens: Lens) -> dict:
    """One table row: PSNR against the reference and diagnose's score before and after fix, and
    whether the subject's 8-bit codes came through unchanged (printed as it is measured)."""
    same = bool((codes(result.image)[:, result.protected] == codes(picture)[:, result.protected]).all())
    row = {"scene": scene, "kind": kind, "severity": severity, "before": psnr(picture, reference),
           "after": psnr(result.image, reference), "subject_same": same,
           "score_before": score(picture, depth, lens), "score_after": score(result.image, depth, lens)}
    print(row, flush=True)
    return row


def score(picture: torch.Tensor, depth: torch.Tensor, lens: Lens) -> float | None:
    """diagnose's score, or None where diagnose fails on the picture (reported in the table)."""
    try:
        return diagnose(picture, depth, lens).score
    except Exception as error:  # a benchmark reports a failure of the tool it measures and goes on
        print(f"diagnose failed: {type(error).__name__}: {error}", flush=True)
        return None


def table(rows: list[dict]) -> str:
    lines = ["| scene | corruption | severity | PSNR before (dB) | PSNR after (dB) | change (dB) | diagnose score before -> after | subject codes same |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        before = "identical" if r["before"] >= 99 else f"{r['before']:.2f}"
        after = "identical" if r["after"] >= 99 else f"{r['after']:.2f}"
        change = "" if r["before"] >= 99 else f"{r['after'] - r['before']:+.2f}"
        score = " -> ".join("failed" if v is None else f"{v:.0f}" for v in (r["score_before"], r["score_after"]))
        lines.append(f"| {r['scene']} | {r['kind']} | {r['severity']} | {before} | {after} | {change} | {score} | {r['subject_same']} |")
    corrupted = [r for r in rows if r["kind"] != "clean"]
    gain = sum(r["after"] - r["before"] for r in corrupted) / max(1, len(corrupted))
    worst = min((r["after"] - r["before"] for r in corrupted), default=0.0)
    clean = min((r["after"] for r in rows if r["kind"] == "clean"), default=99.0)
    rises = sum(None not in (r["score_before"], r["score_after"]) and r["score_after"] > r["score_before"] for r in corrupted)
    lines += ["", f"Mean PSNR change over the corrupted images: {gain:+.2f} dB; worst: {worst:+.2f} dB; "
              f"diagnose score rises on {rises} of {len(corrupted)} corrupted images; "
              f"clean references after fix: {'identical' if clean >= 99 else f'{clean:.2f} dB'} (worst); "
              f"subject codes unchanged on {sum(r['subject_same'] for r in rows)} of {len(rows)} images."]
    return "\n".join(lines)


def timing() -> float:
    """Seconds for one 1920x1080 fix of a sharp picture (blur estimated; the whole lens blur is rendered)."""
    sharp, depth, lens = scene(1920, 1)
    sharp, depth = sharp[:, :1080], depth[:1080]
    picture = to_8bit(sharp)
    small, small_depth, small_lens = scene(160, 1)
    fix(to_8bit(small), small_depth, small_lens)  # compile the scatter first
    started = time.perf_counter()
    fix(picture, depth, lens)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--timing", action="store_true")
    parser.add_argument("--oracle", action="store_true", help="hand fix the true existing blur instead of estimating it")
    parser.add_argument("--diagnose-set", type=Path, default=None, metavar="FOLDER",
                        help="run on diagnose's evaluation set built in FOLDER by diagnose_eval.py (ground-truth scenes)")
    args = parser.parse_args()
    if args.diagnose_set is not None:
        rows = evaluate_diagnose_set(args.diagnose_set)
        text = ["# fix on diagnose's evaluation set (ground-truth scenes, 480 px wide, 8-bit; the existing blur estimated; grain off)", "",
                "Made by `benchmarks/fix_eval.py --diagnose-set` on the set of `benchmarks/diagnose_eval.py`.", "", table(rows)]
        (ROOT / "benchmarks" / "results" / "fix_diagnose_set.md").write_text("\n".join(text) + "\n")
        return
    rows = evaluate(args.width, args.scenes, ROOT / "docs" / "images", oracle=args.oracle)
    source = "the true existing blur (--oracle)" if args.oracle else "the existing blur estimated by diagnose"
    text = [f"# fix: corrupted set ({args.scenes} generated scenes, {args.width} px wide, {source})", "",
            "Made by `benchmarks/fix_eval.py` (see its docstring for the scenes and corruptions).", "", table(rows)]
    if args.timing:
        seconds = timing()
        text += ["", f"1080p fix (sharp background, grain and hierarchy on): {seconds:.1f} s on this machine's CPU "
                 f"({torch.get_num_threads()} threads)."]
        print(text[-1])
    (ROOT / "benchmarks" / "results" / "fix.md").write_text("\n".join(text) + "\n")


if __name__ == "__main__":
    main()

"""Evaluate `bokehsim diagnose` on a labelled set built from the ground-truth scenes.

    PYTHONPATH=$PWD python benchmarks/diagnose_eval.py [--width 480] [--out out/diagnose_eval]

1. Renders every scene of ``scenes/gt/`` with Mitsuba (pinhole image + z-depth; cached).
2. Clean images: bokehsim renders of (pinhole, depth) with the scene's lens and several apertures,
   f-numbers and focus distances, quantised to 8-bit sRGB like a generator's output.
3. Corrupted images: each of the five signs by several recipes at two severities. Recipes marked
   ``tune`` were used to set the thresholds and rules; ``seen`` recipes were held out once and their
   results have been seen (not tuned on); ``holdout`` recipes (``unseen``) were written before any
   result on them was seen and are not tuned on. Each is reported separately. A corruption the
   scene cannot show is left out, by rules on the
   scene alone (``visible``, ``has_subject_edge``, ``has_background_depths``, ``has_point_lights``).
4. Runs ``diagnose`` on every image and reports detection rates (right ``primary``), false alarms
   on clean images, the estimator's accuracy (median |measured - true CoC| at edges of the clean
   renders) and the ranking of clean vs corrupted images (ROC AUC) by our score and by the
   variance-of-Laplacian baseline (Generative Photography, CVPR 2025), written to
   ``benchmarks/results/diagnose.md``; ``--timing`` adds the 1080p time.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bokehsim import Lens, render_full
from bokehsim.diagnosis import diagnose
from bokehsim.diagnosis.components import connected_components
from bokehsim.diagnosis.filters import gaussian_blur, luminance
from bokehsim.diagnosis.shot import dilate
from bokehsim.tone import linear_to_srgb, srgb_to_linear

ROOT = Path(__file__).resolve().parents[1]
SIGNS = ("cutout", "absent-distance", "contradictory-optics", "failed-hierarchy", "fine-pattern")


# ------------------------------------------------------------------------------------------ data


def ground_truth(out: Path, width: int, spp: int) -> list[Path]:
    """Mitsuba pinhole + depth of every scene (rendered once into ``out/gt``)."""
    folder = out / "gt"
    scenes = sorted((ROOT / "scenes" / "gt").glob("*.toml"))
    if not all((folder / s.stem / "depth.npy").exists() for s in scenes):
        subprocess.run([sys.executable, "-m", "bokehsim", "groundtruth", str(ROOT / "scenes" / "gt"), "-o", str(folder),
                        "--width", str(width), "--spp", str(spp), "--npy"], check=True)
    return [folder / s.stem for s in scenes]


def held_out_arguments(description: str, results_name: str) -> argparse.Namespace:
    """The command line of a held-out benchmark: the ``gt`` folder this script rendered, and its
    results file (``benchmarks/results/RESULTS_NAME``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--ground-truth", type=Path, default=ROOT / "out" / "diagnose_eval" / "gt",
                        help="the gt folder that diagnose_eval.py --out OUT rendered")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / results_name)
    return parser.parse_args()


def rendered_scenes(folder: Path):
    """(name, pinhole clipped to [0, 1] like an 8-bit picture, depth, lens) of every scene that
    ``ground_truth`` rendered into ``folder`` (``OUT/gt``)."""
    for scene_dir in sorted(path for path in folder.iterdir() if (path / "scene.json").exists()):
        lens = Lens(**json.loads((scene_dir / "scene.json").read_text())["lens"])
        pinhole = torch.from_numpy(np.load(scene_dir / "pinhole.npy")).float()
        pinhole = pinhole.permute(2, 0, 1) if pinhole.shape[-1] == 3 else pinhole
        depth = torch.from_numpy(np.load(scene_dir / "depth.npy")).float().squeeze()
        yield scene_dir.name, pinhole.clamp(0, 1), depth, lens


def to_8bit(linear: torch.Tensor) -> torch.Tensor:
    """Quantise like a generator's 8-bit sRGB output and decode back to linear."""
    return srgb_to_linear(torch.round(linear_to_srgb(linear.clamp(0, 1)) * 255) / 255)


def srgb_edit(linear: torch.Tensor, edit) -> torch.Tensor:
    return srgb_to_linear(edit(linear_to_srgb(linear.clamp(0, 1))).clamp(0, 1))


#: A corruption counts only where it shows: somewhere a 16 px square whose mean sRGB luminance
#: change is at least this many 8-bit codes.
VISIBLE_CODES = 3.0
#: Recipes that act on the background's distances (one blur for all, or their order reversed): they
#: need a background whose distances differ (``has_background_depths``). On one at a single distance
#: the reversed order is the same order, and the picture the clean one at another f-number.
NEED_BACKGROUND_DEPTHS = ("uniform-background", "reversed-distances")
#: A light shows a disc only where less than this share of its surround (its box grown by its
#: disc's radius) is lit (linear luminance over 0.5): the night scenes' lights read at most 0.08, a
#: bright window's speckles 0.57 and more, the table's lights inside their glow 0.30 to 0.51.
LIT_SURROUND_SHARE = 0.25


def visible(image: torch.Tensor, reference: torch.Tensor) -> bool:
    """Whether a corrupted image differs visibly from the physical render of the same shot."""
    change = (luminance(linear_to_srgb(image)) - luminance(linear_to_srgb(reference))).abs()
    return float(F.avg_pool2d(change[None, None], 16, stride=4).max()) * 255 >= VISIBLE_CODES


def has_subject_edge(depth: torch.Tensor, lens: Lens) -> bool:
    """Whether an in-focus subject stands in front of a defocused background somewhere: a cut-out
    needs a depth step from |CoC| <= 2 px to >= 4 px within 4 px (a receding floor has none)."""
    coc = lens.coc_px(depth, depth.shape[1])  # signed: > 0 behind the focus plane
    far_behind = F.max_pool2d(coc[None, None], 9, stride=1, padding=4)[0, 0] >= 4.0
    return int(((coc.abs() <= 2.0) & far_behind).sum()) >= 20


def has_point_lights(pinhole_hdr: torch.Tensor, depth: torch.Tensor, lens: Lens) -> bool:
    """Whether at least four small lights brighter than white lie where the lens defocuses them by
    6 px or more, each on a dark surround: only then does the picture show bokeh discs whose shapes
    can contradict. (A bright window's speckles, or lights inside their own glow, show no disc.)"""
    coc = lens.coc_px(depth, depth.shape[1]).abs()
    luma = luminance(pinhole_hdr)
    labels = connected_components((luma > 1.0) & (coc >= 6.0))
    lights = 0
    for label in labels.unique()[1:].tolist():
        ys, xs = torch.nonzero(labels == label, as_tuple=True)
        reach = max(2, int(float(coc[ys, xs].median()) / 2))  # the disc's radius around the light
        surround = luma[max(0, int(ys.min()) - reach): int(ys.max()) + reach + 1,
                        max(0, int(xs.min()) - reach): int(xs.max()) + reach + 1]
        small = ys.numel() <= 0.25 * float(coc.max()) ** 2
        lights += small and float((surround > 0.5).float().mean()) < LIT_SURROUND_SHARE
    return lights >= 4


def has_background_depths(depth: torch.Tensor, lens: Lens) -> bool:
    """Whether the defocused background spans distances whose blur differs by a factor 1.5 (10th to
    90th percentile): only then can one blur for all of it ignore distance."""
    coc = lens.coc_px(depth, depth.shape[1]).abs()
    background = coc[coc >= 2.0]
    if background.numel() < 100:
        return False
    low, high = torch.quantile(background, torch.tensor([0.1, 0.9]))
    return float(high) >= 1.5 * float(low)


def background_louder(image: torch.Tensor, depth: torch.Tensor, lens: Lens) -> bool:
    """Whether the defocused background is louder than the in-focus subject: its colourfulness
    (Hasler & Suesstrunk 2003) or its RMS luma contrast is higher (sRGB). Measured independently of
    ``diagnose``'s own loudness: a background made more colourful that is still quieter than the
    subject is not a failed hierarchy, however visible the change."""
    srgb = linear_to_srgb(image.clamp(0, 1))
    subject, background = subject_matte(depth, lens) > 0.5, background_mask(depth, lens)
    if int(subject.sum()) < 64 or int(background.sum()) < 64:
        return False

    def colourfulness(region):
        r, g, b = (srgb[c][region] for c in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b
        return float(torch.hypot(rg.std(), yb.std()) + 0.3 * torch.hypot(rg.mean(), yb.mean()))

    luma = luminance(srgb)
    return (colourfulness(background) > colourfulness(subject)
            or float(luma[background].std()) > float(luma[subject].std()))


def shoot(pinhole, depth, lens, aperture="circle"):
    result = render_full(pinhole, depth, lens, aperture=aperture, clipped_highlights=False)
    return result.image.clamp(0, 1), result.coc_px


def subject_matte(depth: torch.Tensor, lens: Lens) -> torch.Tensor:
    """The in-focus region as a soft matte (1 inside)."""
    c = lens.coc_px(depth, depth.shape[1]).abs()
    return (c <= 2.0).float()


def background_mask(depth, lens) -> torch.Tensor:
    return lens.coc_px(depth, depth.shape[1]).abs() >= 6.0


def box_blur(image: torch.Tensor, radius: int) -> torch.Tensor:
    padded = F.pad(image[None], (radius,) * 4, mode="replicate")
    return F.avg_pool2d(padded, 2 * radius + 1, stride=1)[0]


def oval_quadrants(pinhole, depth, lens, *, radial: bool) -> torch.Tensor:
    """Ovals whose long axis points along (radial) or across the radius by quadrant: no lens gives radial ovals."""
    h, w = depth.shape
    out = torch.zeros(3, h, w)
    for qy in (0, 1):
        for qx in (0, 1):
            angle = math.degrees(math.atan2(-(qy - 0.5), qx - 0.5))  # screen angle, y up
            angle = angle if radial else angle + 90
            img, _ = shoot(pinhole, depth, lens, f"oval:aspect=1.8,angle={angle:.0f}")
            ys, xs = slice(qy * h // 2, (qy + 1) * h // 2 if qy == 0 else h), slice(qx * w // 2, (qx + 1) * w // 2 if qx == 0 else w)
            out[:, ys, xs] = img[:, ys, xs]
    return out


def patch_box(background: torch.Tensor, size_px: float, rng: torch.Generator) -> tuple[slice, slice] | None:
    """A square of ``size_px`` centred at a random pixel of the background at least 24 px inside it."""
    ys, xs = torch.nonzero(background & ~dilate(~background, 24), as_tuple=True)
    if not ys.numel():
        return None
    k = int(torch.randint(ys.numel(), (1,), generator=rng))
    cy, cx, size = int(ys[k]), int(xs[k]), int(size_px)
    return slice(max(0, cy - size // 2), cy + size // 2), slice(max(0, cx - size // 2), cx + size // 2)


def corrupted(pinhole, depth, lens, clean, rng) -> list[tuple[str, str, str, float, torch.Tensor]]:
    """(sign, recipe, split, severity, image) for every corruption of one scene."""
    h, w = depth.shape
    matte = subject_matte(depth, lens)
    bg = background_mask(depth, lens)
    c_bg = float(lens.coc_px(depth, w).abs()[bg].median()) if bg.any() else 8.0
    items = []
    for sev in (0.5, 1.0):
        # cutout: subject pasted on a plate blurred with the subject in it
        sigma = max(1.5, c_bg / 4 * (0.5 + sev))
        plate = gaussian_blur(pinhole, sigma)
        items.append(("cutout", "gaussian-plate", "tune", sev, matte * pinhole + (1 - matte) * plate))
        plate = box_blur(pinhole, max(2, int(c_bg / 2 * (0.5 + sev) / 1.7)))
        rim = (dilate(matte > 0.5, 2) & ~(matte > 0.5)).float()
        items.append(("cutout", "box-plate-rim", "tune", sev,
                      (matte * pinhole + (1 - matte) * plate) * (1 - rim) + rim * (0.3 + 0.5 * sev)))
        flat = torch.full_like(depth, float(depth[bg].median()) if bg.any() else lens.focus_distance_m * 3)
        lens_plate, _ = shoot(pinhole, flat, replace(lens, f_number=lens.f_number / (0.5 + sev)))
        grown = dilate(matte > 0.5, int(2 + 2 * sev)).float()
        items.append(("cutout", "lens-plate-dilated", "tune", sev, grown * pinhole + (1 - grown) * lens_plate))
        shrunk = 1 - dilate(matte < 0.5, int(1 + 2 * sev)).float()
        items.append(("cutout", "lens-plate-eroded", "seen", sev, shrunk * pinhole + (1 - shrunk) * lens_plate))
        # absent-distance
        uniform = torch.where(bg, float(depth[bg].median()) if bg.any() else 10.0, depth)
        img, _ = shoot(pinhole, uniform, replace(lens, f_number=lens.f_number / sev))
        items.append(("absent-distance", "uniform-background", "tune", sev, img))
        strong, _ = shoot(pinhole, depth, replace(lens, f_number=lens.f_number / (1 + 1.5 * sev)))
        weak, _ = shoot(pinhole, depth, replace(lens, f_number=lens.f_number * (1 + 2 * sev)))
        left = (torch.arange(w) < w // 2).float()[None, None]
        items.append(("absent-distance", "blur-step-halves", "tune", sev, left * strong + (1 - left) * weak))
        bands = ((torch.arange(h)[:, None] // max(8, h // 4)) % 2).float()[None]
        g = gaussian_blur(pinhole, c_bg / 4 * (0.4 + sev))
        items.append(("absent-distance", "gaussian-bands", "tune", sev,
                      matte * pinhole + (1 - matte) * (bands * g + (1 - bands) * gaussian_blur(pinhole, 0.6))))
        # failed-hierarchy
        bgf = bg.float()[None]
        def saturate(x, k=1 + 1.2 * sev):
            mean = x.mean(0, keepdim=True)
            return mean + (x - mean) * k
        items.append(("failed-hierarchy", "saturation-boost", "tune", sev, bgf * srgb_edit(clean, saturate) + (1 - bgf) * clean))
        def contrast(x, k=1 + 1.5 * sev):
            local = gaussian_blur(x, 12.0)
            return local + (x - local) * k * 1.5 + (x - x.mean()) * 0.3 * k
        items.append(("failed-hierarchy", "contrast-boost", "seen", sev, bgf * srgb_edit(clean, contrast) + (1 - bgf) * clean))
        # fine-pattern: a patch pasted where the shot defocuses
        box = patch_box(bg, min(h, w) * (0.12 + 0.1 * sev), rng)
        if box is not None:
            yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            grid = ((yy // 2 + xx // 2) % 2).float()[None]
            img = clean.clone()
            img[:, box[0], box[1]] = (clean * (0.6 + 0.8 * grid))[:, box[0], box[1]]
            items.append(("fine-pattern", "checker-overlay", "tune", sev, img))
            img = clean.clone()
            img[:, box[0], box[1]] = pinhole[:, box[0], box[1]]
            items.append(("fine-pattern", "sharp-patch", "seen", sev, img))
            moire = 0.5 + 0.5 * torch.sin(2 * math.pi * (xx * 0.47 + yy * 0.11)) * torch.sin(2 * math.pi * xx * 0.43)
            img = clean.clone()
            img[:, box[0], box[1]] = (clean * (0.7 + 0.6 * moire[None]))[:, box[0], box[1]]
            items.append(("fine-pattern", "moire-overlay", "seen", sev, img))
    # contradictory optics (scenes with highlight discs)
    mixed = torch.zeros(3, h, w)
    oval_img, _ = shoot(pinhole, depth, lens, "oval:aspect=1.9,angle=30")
    cells = ((torch.arange(h)[:, None] // 40 + torch.arange(w)[None] // 40) % 2).float()[None]
    mixed = cells * oval_img + (1 - cells) * clean
    items.append(("contradictory-optics", "round-oval-checker", "tune", 1.0, mixed))
    items.append(("contradictory-optics", "radial-ovals", "seen", 1.0, oval_quadrants(pinhole, depth, lens, radial=True)))
    rotated, _ = shoot(pinhole, depth, lens, "oval:aspect=1.6,angle=100")
    items.append(("contradictory-optics", "two-rotations", "seen", 1.0, (1 - cells) * oval_img + cells * rotated))
    return items + unseen(pinhole, depth, lens, clean)


def unseen(pinhole, depth, lens, clean) -> list[tuple[str, str, str, float, torch.Tensor]]:
    """Holdout recipes written before any result on them was seen, and not tuned on: one or two per
    sign, made unlike the recipes above (other plates, other blur layouts, other patterns)."""
    h, w = depth.shape
    rng = torch.Generator().manual_seed(7)  # its own stream: the recipes above keep their patches
    matte = subject_matte(depth, lens)
    bg = background_mask(depth, lens)
    coc = lens.coc_px(depth, w).abs()
    items = []
    for sev in (0.5, 1.0):
        # cutout: the subject cut out of the plate before blurring (a dark halo), feathered matte
        holed = pinhole * (1 - dilate(matte > 0.5, 1).float())
        flat = torch.full_like(depth, float(depth[bg].median()) if bg.any() else lens.focus_distance_m * 3)
        plate, _ = shoot(holed, flat, replace(lens, f_number=lens.f_number / (0.5 + sev)))
        soft = gaussian_blur(matte[None], 1.0)[0].clamp(0, 1)
        items.append(("cutout", "dark-halo-plate", "holdout", sev, soft * pinhole + (1 - soft) * plate))
        # absent-distance: the background blurred as if its distances were reversed (near parts most)
        behind = coc >= 2.0
        if behind.any():
            near, far = float(depth[behind].min()), float(depth[behind].max())
            mirrored = torch.where(behind, (near * far) / depth.clamp_min(1e-3), depth)  # 1/d reversed in [1/far, 1/near]
            img, _ = shoot(pinhole, mirrored, replace(lens, f_number=lens.f_number / (0.5 + sev)))
            items.append(("absent-distance", "reversed-distances", "holdout", sev, img))
        # absent-distance: a blur that grows across the frame from left to right, whatever the depth
        ramp = torch.linspace(0.0, 1.0, w)[None].expand(h, w)
        levels = [gaussian_blur(pinhole, s) for s in (0.5, 2.0, 4.0, 8.0)]
        t = ramp * (len(levels) - 1) * sev
        lo = t.floor().clamp(max=len(levels) - 2).long()
        frac = (t - lo).clamp(0, 1)
        stack = torch.stack(levels)
        mixed = torch.gather(stack, 0, lo[None, None].expand(1, 3, h, w))[0] * (1 - frac) + torch.gather(stack, 0, (lo + 1)[None, None].expand(1, 3, h, w))[0] * frac
        items.append(("absent-distance", "left-right-blur-ramp", "holdout", sev, matte * pinhole + (1 - matte) * mixed))
        # failed-hierarchy: vibrance and clarity on the background (low-saturation colours pushed most,
        # local contrast at 6 px doubled)
        def vibrance_clarity(x, k=sev):
            mean = x.mean(0, keepdim=True)
            sat = x.amax(0, keepdim=True) - x.amin(0, keepdim=True)
            x = mean + (x - mean) * (1 + 2.5 * k * (1 - sat))
            local = gaussian_blur(x, 6.0)
            return local + (x - local) * (1 + 2 * k)
        bgf = bg.float()[None]
        items.append(("failed-hierarchy", "vibrance-clarity", "holdout", sev, bgf * srgb_edit(clean, vibrance_clarity) + (1 - bgf) * clean))
        # fine-pattern: diagonal fine stripes, and sharp noise, in a patch of the defocused region
        box = patch_box(bg, min(h, w) * (0.1 + 0.1 * sev), rng)
        if box is not None:
            yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            stripes = (((xx + yy) // 2) % 2).float()[None]
            img = clean.clone()
            img[:, box[0], box[1]] = (clean * (0.75 + 0.5 * stripes))[:, box[0], box[1]]
            items.append(("fine-pattern", "diagonal-stripes", "holdout", sev, img))
            noise = torch.randn(1, h, w, generator=rng) * 0.08
            img = clean.clone()
            img[:, box[0], box[1]] = srgb_edit(clean, lambda x: x + noise)[:, box[0], box[1]]
            items.append(("fine-pattern", "noise-patch", "holdout", sev, img))
    # contradictory optics: the top half through a 5-blade aperture, the bottom through an oval
    top = (torch.arange(h) < h // 2).float()[None, :, None]
    blades, _ = shoot(pinhole, depth, lens, "blades:n=5,rotation=0")
    ovals, _ = shoot(pinhole, depth, lens, "oval:aspect=1.7,angle=0")
    items.append(("contradictory-optics", "blades-over-ovals", "holdout", 1.0, top * blades + (1 - top) * ovals))
    return items


def clean_variants(pinhole, depth, lens) -> list[tuple[str, Lens, str]]:
    """(name, lens, aperture) of the clean renders of one scene."""
    farther = replace(lens, focus_distance_m=lens.focus_distance_m * 1.04)
    return [
        ("circle", lens, "circle"),
        ("blades6-2N", replace(lens, f_number=lens.f_number * 2), "blades:n=6,rotation=10"),
        ("cat-eye", lens, "cat-eye:strength=0.6"),
        ("oval-focus+4%", farther, "oval:aspect=1.5,angle=20"),
    ]


# ------------------------------------------------------------------------------------------ metrics


def variance_of_laplacian_cells(image: torch.Tensor, cell: int = 32) -> torch.Tensor:
    y = luminance(linear_to_srgb(image.clamp(0, 1)))[None, None]
    lap = F.conv2d(F.pad(y, (1,) * 4, mode="replicate"), torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).view(1, 1, 3, 3))
    mean = F.avg_pool2d(lap, cell)
    return (F.avg_pool2d(lap**2, cell) - mean**2).flatten()


def baseline_score(image: torch.Tensor, reference: torch.Tensor) -> float:
    """Pearson correlation of cell-wise variance-of-Laplacian sharpness with the physical reference's."""
    a, b = variance_of_laplacian_cells(image).log1p(), variance_of_laplacian_cells(reference).log1p()
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-9))


def auc(positive: list[float], negative: list[float]) -> float:
    """P(a clean image ranks above a corrupted one) by the score (ties count half)."""
    p, n = torch.tensor(positive)[:, None], torch.tensor(negative)[None]
    return float(((p > n).float() + 0.5 * (p == n).float()).mean())


def estimator_errors(image, coc_px, rows):
    from bokehsim.diagnosis import estimate_defocus

    est = estimate_defocus(image)
    known = est.edge_confidence >= 0.2
    truth = coc_px.abs()
    # Edges that straddle two depths have no one true CoC.
    spread = F.max_pool2d(truth[None, None], 5, 1, 2)[0, 0] + F.max_pool2d(-truth[None, None], 5, 1, 2)[0, 0]
    known &= spread <= 0.25 * truth.clamp_min(2.0)
    for low, high in ((0, 2), (2, 6), (6, 12), (12, 24), (24, 1e9)):
        sel = known & (truth >= low) & (truth < high)
        if int(sel.sum()) >= 20:
            rows.append((low, high, float((est.edge_coc_px[sel] - truth[sel]).abs().median()), int(sel.sum())))


# ------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=480)
    parser.add_argument("--spp", type=int, default=64,
                        help="samples per pixel of the pinhole renders (fewer leave Monte Carlo fireflies, "
                             "which the lens turns into small bokeh discs no camera would show)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "diagnose_eval")
    parser.add_argument("--timing", action="store_true", help="also time diagnose on a 1920x1080 image")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "diagnose.md")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    records, estimator_rows = [], []
    index = build_set(args.out, args.width, args.spp)
    for scene, items in index:
        data = torch.load(args.out / "set" / f"{scene}.pt")
        depth, reference = data["depth"], data["reference"]
        for item in items:
            image, lens = data["images"][item["key"]], Lens(**item["lens"])
            record = evaluate(image, depth, lens, reference)
            records.append({**{k: v for k, v in item.items() if k != "key"}, **record})
            if item["truth"] == "clean":
                estimator_errors(image, data["coc"][item["key"]], estimator_rows)
        print(f"{scene}: {len(records)} images diagnosed", file=sys.stderr)
    (args.out / "records.json").write_text(json.dumps(records, indent=1))
    timing = time_1080p(args.out, index) if args.timing else None
    write_results(args.results, records, estimator_rows, timing, args.width)


def build_set(out: Path, width: int, spp: int) -> list[tuple[str, list[dict]]]:
    """Render (once, cached in ``out/set``) every clean and corrupted image; returns their labels."""
    index_path = out / "set" / "index.json"
    if index_path.exists():
        return json.loads(index_path.read_text())
    (out / "set").mkdir(parents=True, exist_ok=True)
    rng = torch.Generator().manual_seed(1)
    index = []
    for scene_dir in ground_truth(out, width, spp):
        meta = json.loads((scene_dir / "scene.json").read_text())
        pinhole = torch.from_numpy(np.load(scene_dir / "pinhole.npy")).float()
        pinhole = pinhole.permute(2, 0, 1) if pinhole.shape[-1] == 3 else pinhole
        depth = torch.from_numpy(np.load(scene_dir / "depth.npy")).float().squeeze()
        lens = Lens(**meta["lens"])
        lights = has_point_lights(pinhole, depth, lens)
        pinhole = pinhole.clamp(0, 1)  # an 8-bit generator's picture: clipped highlights
        reference, _ = shoot(pinhole, depth, lens)
        images, cocs, items = {}, {}, []
        for name, variant_lens, aperture in clean_variants(pinhole, depth, lens):
            image, coc = shoot(pinhole, depth, variant_lens, aperture)
            key = f"clean/{name}"
            images[key], cocs[key] = to_8bit(image), coc
            items.append({"key": key, "scene": scene_dir.name, "truth": "clean", "recipe": name, "split": "clean",
                          "severity": 0.0, "lens": vars(variant_lens)})
        skipped = 0
        for number, (sign, recipe, split, sev, image) in enumerate(corrupted(pinhole, depth, lens, to_8bit(reference), rng)):
            key = f"{sign}/{recipe}/{number}"
            images[key] = to_8bit(image)
            if sign == "cutout" and not has_subject_edge(depth, lens):
                skipped += 1  # no subject in front of a defocused background: nothing to cut out
                continue
            if sign == "contradictory-optics" and not lights:
                skipped += 1  # no point lights, no bokeh discs whose shapes could disagree
                continue
            if recipe in NEED_BACKGROUND_DEPTHS and not has_background_depths(depth, lens):
                skipped += 1  # a background at one distance already has one blur, and no order to reverse
                continue
            if sign == "failed-hierarchy" and not background_louder(images[key], depth, lens):
                skipped += 1  # still quieter than the subject: louder, but not louder than the subject
                continue
            if not visible(images[key], to_8bit(reference)):
                skipped += 1  # e.g. a pattern multiplied onto a black sky: nothing to see, nothing wrong
                continue
            items.append({"key": key, "scene": scene_dir.name, "truth": sign, "recipe": recipe, "split": split,
                          "severity": sev, "lens": vars(lens)})
        torch.save({"depth": depth, "reference": reference, "images": images, "coc": cocs}, out / "set" / f"{scene_dir.name}.pt")
        index.append((scene_dir.name, items))
        print(f"{scene_dir.name}: {len(items)} images rendered, {skipped} corruptions left out (invisible, or not applicable to the scene's geometry)", file=sys.stderr)
    index_path.write_text(json.dumps(index))
    return index


def evaluate(image, depth, lens, reference) -> dict:
    report = diagnose(image, depth, lens)
    return {
        "primary": report.primary, "score": report.score, "baseline": baseline_score(image, reference),
        "signs": {s.sign: s.severity for s in report.signs}, "notes": {s.sign: s.note for s in report.signs},
        "implied_f_number": report.implied_f_number, "f_number": lens.f_number,
        "rank_correlation": report.rank_correlation,
    }


def time_1080p(out: Path, index) -> float:
    """Seconds to diagnose a 1920x1080 picture: the first scene's clean render, scaled up."""
    scene, items = index[0]
    data = torch.load(out / "set" / f"{scene}.pt")
    image = F.interpolate(data["images"]["clean/circle"][None], size=(1080, 1920), mode="bilinear", align_corners=False)[0]
    depth = F.interpolate(data["depth"][None, None], size=(1080, 1920), mode="nearest-exact")[0, 0]
    lens = Lens(**items[0]["lens"])
    diagnose(image[:, :256, :256], depth[:256, :256], replace(lens, focus_distance_m=float(depth[:256, :256].median())))
    started = time.perf_counter()
    diagnose(image, depth, lens)
    return time.perf_counter() - started


def write_results(path: Path, records: list[dict], estimator_rows, timing, width) -> None:
    lines = [f"# `bokehsim diagnose` evaluation ({width} px wide, 8-bit sRGB; `benchmarks/diagnose_eval.py`)", ""]
    clean = [r for r in records if r["truth"] == "clean"]
    alarms = [r for r in clean if r["primary"] is not None]
    lines += [f"False alarms on clean images: **{len(alarms)} / {len(clean)}** "
              f"({', '.join(r['scene'] + '/' + r['recipe'] + ': ' + r['primary'] for r in alarms) or 'none'})", ""]
    lines += ["| sign | split | recipes | right primary | flagged at all |", "| --- | --- | --- | --- | --- |"]
    for split in ("tune", "seen", "holdout"):
        chosen = [r for r in records if r["split"] == split]
        for sign in SIGNS:
            rows = [r for r in chosen if r["truth"] == sign]
            if not rows:
                continue
            right = sum(r["primary"] == sign for r in rows)
            flagged = sum(r["signs"][sign] > 0.5 for r in rows)
            recipes = ", ".join(sorted({r["recipe"] for r in rows}))
            lines.append(f"| {sign} | {split} | {recipes} | {right}/{len(rows)} ({100 * right / len(rows):.0f} %) | {flagged}/{len(rows)} |")
        right = sum(r["primary"] == r["truth"] for r in chosen)
        lines.append(f"| **all** | {split} | | **{right}/{len(chosen)} ({100 * right / max(1, len(chosen)):.0f} %)** | |")
    lines += ["", "Per recipe (right primary / images; what was named instead):", ""]
    for recipe in sorted({(r["truth"], r["recipe"], r["split"]) for r in records if r["truth"] != "clean"}):
        rows = [r for r in records if (r["truth"], r["recipe"], r["split"]) == recipe]
        wrong = [str(r["primary"]) for r in rows if r["primary"] != r["truth"]]
        lines.append(f"- {recipe[0]} / {recipe[1]} ({recipe[2]}): {len(rows) - len(wrong)}/{len(rows)}"
                     + (f"; instead: {', '.join(wrong)}" if wrong else ""))
    corrupt = [r for r in records if r["truth"] != "clean"]
    lines += ["", "Ranking clean above corrupted images (ROC AUC, 0.5 = chance):", "",
              "| score | AUC all | AUC holdout |", "| --- | --- | --- |"]
    for key, name in (("score", "diagnose score (no reference needed)"),
                      ("baseline", "variance-of-Laplacian correlation with the physical reference (baseline)")):
        held = [r for r in corrupt if r["split"] == "holdout"]
        lines.append(f"| {name} | {auc([r[key] for r in clean], [r[key] for r in corrupt]):.3f} | "
                     f"{auc([r[key] for r in clean], [r[key] for r in held]):.3f} |")
    implied = [(r["implied_f_number"], r["f_number"]) for r in clean if r["implied_f_number"]]
    if implied:
        errors = sorted(abs(math.log2(a / b)) for a, b in implied)
        lines += ["", f"Implied f-number on clean images: median error {errors[len(errors) // 2]:.2f} stops "
                      f"({len(implied)} images)."]
    lines += ["", "Estimator accuracy on the clean renders (edge readings, median |measured - true CoC|):", "",
              "| true CoC (px) | median error (px) | readings |", "| --- | --- | --- |"]
    for low, high in ((0, 2), (2, 6), (6, 12), (12, 24), (24, 1e9)):
        rows = [r for r in estimator_rows if r[0] == low]
        if rows:
            errs = np.median([r[2] for r in rows])
            lines.append(f"| {low}-{high if high < 1e9 else ''} | {errs:.2f} (median of {len(rows)} images) | {sum(r[3] for r in rows)} |")
    if timing is not None:
        lines += ["", f"1920x1080 diagnose (the first scene's clean render scaled up): {timing:.2f} s wall, "
                      f"this machine's 2 CPU cores ({torch.get_num_threads()} torch threads), shared with other jobs."]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

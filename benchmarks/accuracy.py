"""Accuracy of bokehsim against physically rendered depth of field (the ground truth).

For every scene folder written by ``bokehsim groundtruth`` (pinhole.exr, depth.exr, reference.exr,
scene.json), run bokehsim on the pinhole image + z-depth and compare with the reference:

* input **linear HDR**: the float render itself (highlights intact);
* input **8-bit sRGB**: the same image as an 8-bit sRGB photograph (tone-mapped by
  ``bokehsim.tone.compress_highlights``, encoded, decoded again: highlights clipped), rendered with
  ``clipped_highlights=True``. Its output is display-referred, so this row is compared in display
  space: the reference goes through ``compress_highlights`` too. ``--eight-bit clip`` clips at 1.0
  instead of tone-mapping (see :func:`eight_bit` for why that cannot match the compressed reference).

Methods in the same run: **bokehsim**; **unchanged** (the input as is: no blur at all);
**gaussian** (each pixel blurred by a Gaussian whose size follows its own CoC, sigma = |c| / 4, the
standard deviation of a disc of diameter |c|, with no occlusion handling: a gather from a stack of
blurred copies); **blender** (Blender's compositor Defocus node, only when ``bpy`` is installed).

Columns: PSNR and SSIM on sRGB-encoded images (clipped to [0, 1]); edge PSNR over the pixels within
8 px of a depth discontinuity (neighbouring z-depths differing by more than 10 %); highlight PSNR over
the pixels whose linear reference exceeds 1.0, on sRGB(compress_highlights(x)) so that highlights are
not all clipped to the same white ("-" when fewer than 50 such pixels); ``energy`` is the output's
total light over the reference's (linear sums; in the 8-bit rows display-referred linear against the
shoulder-compressed reference), 1.00 for a renderer that neither invents nor loses light, and the
``unchanged`` row gives the input's own ratio (light the lens takes from or brings into the frame
at its border, or that occluders hide); ``ref noise`` is the
reference's own noise (estimated PSNR from the generator's sidecar): differences well below it are
noise.

    python benchmarks/accuracy.py out/groundtruth            # prints the table, writes results/accuracy.md
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bokehsim import render
from bokehsim.groundtruth.looks import parse_look
from bokehsim.io import read_depth_raw, read_image
from bokehsim.lens import Lens
from bokehsim.tone import compress_highlights, linear_to_srgb, srgb_to_linear

EDGE_BAND_PX = 8
#: A masked PSNR over fewer pixels than this is not reported (printed as "-").
MIN_MASK_PX = 50
#: Neighbouring z-depths whose ratio exceeds this count as a discontinuity.
DISCONTINUITY_RATIO = 1.10
RESULTS = Path(__file__).resolve().parent / "results" / "accuracy.md"


# --- data ------------------------------------------------------------------------------------------------


def load_scene_folder(folder: Path) -> dict:
    record = json.loads((folder / "scene.json").read_text())
    sidecar = json.loads((folder / "reference.exr.json").read_text())["parameters"]
    lens_record = record["lens"]
    return {
        "name": record["scene"],
        "pinhole": read_image(folder / "pinhole.exr").color,
        "reference": read_image(folder / "reference.exr").color,
        "depth_m": read_depth_raw(folder / "depth.exr").values,
        "lens": Lens(lens_record["focal_length_mm"], lens_record["f_number"], lens_record["focus_distance_m"],
                     lens_record["sensor_width_mm"]),
        # The look as written (a spec or a look name): its Aperture carries the profile too.
        "look": parse_look(record.get("look_source", record["look"])),
        "max_coc_px": record["coc_px"]["max_abs"],
        "reference_noise_db": sidecar["noise"]["reference_psnr_estimate_db"],
    }


def eight_bit(linear: torch.Tensor, encoding: str = "shoulder") -> torch.Tensor:
    """The 8-bit sRGB photograph of the same scene, decoded again to display-referred linear [0, 1].

    ``shoulder`` (default): tone-mapped with ``compress_highlights`` first, the display encoding
    that ``clipped_highlights=True`` inverts and that the 8-bit row is scored in, so an in-focus
    pixel can match the reference; values above ~2.4 x white still land on code 255 (clipped).
    ``clip``: plain clipping at 1.0, where mid highlights (0.7-1.0 linear) are scene values, not
    shoulder-compressed ones, so no method can match the compressed reference there.
    """
    display = compress_highlights(linear) if encoding == "shoulder" else linear
    codes = torch.round(linear_to_srgb(display) * 255.0)
    return srgb_to_linear(codes / 255.0)


# --- methods ---------------------------------------------------------------------------------------------


def run_bokehsim(image: torch.Tensor, depth_m: torch.Tensor, lens: Lens, look, clipped: bool) -> torch.Tensor:
    return render(image, depth_m, lens, aperture=look, clipped_highlights=clipped, device="cpu")


def run_gaussian(image: torch.Tensor, depth_m: torch.Tensor, lens: Lens) -> torch.Tensor:
    """Per-pixel Gaussian blur, sigma = |c| / 4, gathered from blurred copies (no occlusion handling)."""
    sigma = lens.coc_px(depth_m, image.shape[-1]).abs() / 4.0
    levels = [0.0] + [0.5 * 2 ** (k / 2) for k in range(0, 2 * int(math.log2(max(float(sigma.max()), 0.5) / 0.5)) + 3)]
    stack = torch.stack([gaussian_blur(image, s) for s in levels])  # (L, C, H, W)
    level_sigmas = torch.tensor(levels, dtype=sigma.dtype)
    upper = torch.searchsorted(level_sigmas, sigma.clamp(max=levels[-1]).contiguous()).clamp(1, len(levels) - 1)
    lower = upper - 1
    s0, s1 = level_sigmas[lower], level_sigmas[upper]
    t = ((sigma - s0) / (s1 - s0)).clamp(0, 1)
    pick = lambda index: torch.gather(stack, 0, index[None, None].expand(1, *image.shape))[0]  # noqa: E731
    return pick(lower) * (1 - t) + pick(upper) * t


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0:
        return image.clone()
    radius = int(math.ceil(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels = image.shape[0]
    padded = F.pad(image[None], (radius, radius, 0, 0), mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    padded = F.pad(rows, (0, 0, radius, radius), mode="replicate")
    return F.conv2d(padded, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)[0]


def run_blender(image: torch.Tensor, depth_m: torch.Tensor, lens: Lens, max_coc_px: float) -> torch.Tensor | None:
    """Blender's compositor Defocus node as a peer; None when ``bpy`` is not installed.

    The scene camera gets the shot's focal length, sensor width and focus distance; the node gets
    f-stop N, max blur = the scene's largest CoC radius, and the z-depth as real depth (use_zbuffer).
    Works with the compositor of Blender 4 (``scene.node_tree``) and 5 (``compositing_node_group``).
    """
    try:
        import bpy
    except ImportError:
        return None
    import tempfile

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    _, height, width = image.shape
    scene.render.engine = "BLENDER_WORKBENCH"  # nothing 3-D to render: only the compositor matters
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = width, height, 100
    scene.render.image_settings.file_format = "OPEN_EXR"
    scene.render.image_settings.color_depth = "32"
    camera_data = bpy.data.cameras.new("bokehsim")
    camera_data.lens = lens.focal_length_mm
    camera_data.sensor_fit = "HORIZONTAL"
    camera_data.sensor_width = lens.sensor_width_mm
    camera_data.dof.use_dof = True
    camera_data.dof.focus_distance = lens.focus_distance_m
    camera_data.dof.aperture_fstop = lens.f_number
    camera_data.clip_start = 1e-3  # scenes put twigs 8 cm from the lens; Blender's default clip is 10 cm
    scene.camera = bpy.data.objects.new("bokehsim", camera_data)
    scene.collection.objects.link(scene.camera)

    tree = _blender_compositor_tree(bpy, scene)
    color_node = tree.nodes.new("CompositorNodeImage")
    color_node.image = _blender_image(bpy, "bokehsim-color", image)
    depth_node = tree.nodes.new("CompositorNodeImage")
    depth_node.image = _blender_image(bpy, "bokehsim-depth", depth_m[None].expand(3, -1, -1))
    defocus = tree.nodes.new("CompositorNodeDefocus")
    defocus.scene = scene
    defocus.use_zbuffer = True
    defocus.f_stop = lens.f_number
    defocus.blur_max = max(max_coc_px / 2.0, 1.0)
    for name, value in (("use_preview", False), ("threshold", 0.0), ("use_gamma_correction", False)):
        if hasattr(defocus, name):  # Blender 4 only
            setattr(defocus, name, value)
    tree.links.new(color_node.outputs["Image"], defocus.inputs["Image"])
    tree.links.new(depth_node.outputs["Image"], defocus.inputs["Z"])  # gray: any colour-to-value mix is z
    tree.links.new(defocus.outputs["Image"], _blender_output_socket(tree))
    with tempfile.TemporaryDirectory() as folder:
        scene.render.filepath = str(Path(folder) / "defocus.exr")
        bpy.ops.render.render(write_still=True)
        return read_image(scene.render.filepath).color[:3].clone()


def _blender_compositor_tree(bpy, scene):
    if hasattr(scene, "compositing_node_group"):  # Blender 5
        tree = bpy.data.node_groups.new("bokehsim", "CompositorNodeTree")
        tree.interface.new_socket(name="Image", in_out="OUTPUT", socket_type="NodeSocketColor")
        scene.compositing_node_group = tree
        return tree
    scene.use_nodes = True
    scene.node_tree.nodes.clear()
    return scene.node_tree


def _blender_output_socket(tree):
    if hasattr(tree, "interface") and tree.interface.items_tree:  # Blender 5: the group output
        return tree.nodes.new("NodeGroupOutput").inputs[0]
    return tree.nodes.new("CompositorNodeComposite").inputs["Image"]


def _blender_image(bpy, name: str, values: torch.Tensor):
    """A float image datablock holding ``(3, H, W)`` values as they are (Non-Color: no transform)."""
    _, height, width = values.shape
    image = bpy.data.images.new(name, width=width, height=height, alpha=True, float_buffer=True)
    image.colorspace_settings.name = "Non-Color"
    rgba = np.ones((height, width, 4), dtype=np.float32)
    rgba[..., :3] = values.permute(1, 2, 0).numpy()
    image.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel())  # Blender stores rows bottom-up
    return image


# --- metrics ---------------------------------------------------------------------------------------------


def psnr_db(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """PSNR in dB (peak 1) of a against b over all pixels or those where ``mask`` (H, W) is True."""
    error = (a.double() - b.double()) ** 2
    if mask is not None:
        if int(mask.sum()) < MIN_MASK_PX:
            return math.nan
        error = error[:, mask]
    mse = float(error.mean())
    return math.inf if mse == 0 else -10.0 * math.log10(mse)


def energy_ratio(output: torch.Tensor, reference: torch.Tensor) -> float:
    """Total light of ``output`` over that of ``reference`` (both linear, ``(C, H, W)``)."""
    return float(output.double().sum() / reference.double().sum())


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean SSIM (Wang et al. 2004: 11 x 11 Gaussian window, sigma 1.5, L = 1), averaged over channels."""
    x = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-x * x / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None].expand(a.shape[0], 1, 11, 11)
    blur = lambda t: F.conv2d(t[None].double(), window, groups=a.shape[0])[0]  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a.double() * a) - mu_a**2
    var_b = blur(b.double() * b) - mu_b**2
    cov = blur(a.double() * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(value.mean())


def edge_band(depth_m: torch.Tensor, band_px: int = EDGE_BAND_PX) -> torch.Tensor:
    """(H, W) True within ``band_px`` of a depth discontinuity (4-neighbour z ratio > 1.1)."""
    edges = torch.zeros_like(depth_m, dtype=torch.bool)
    ratio_x = torch.maximum(depth_m[:, 1:], depth_m[:, :-1]) / torch.minimum(depth_m[:, 1:], depth_m[:, :-1])
    ratio_y = torch.maximum(depth_m[1:], depth_m[:-1]) / torch.minimum(depth_m[1:], depth_m[:-1])
    jump_x, jump_y = ratio_x > DISCONTINUITY_RATIO, ratio_y > DISCONTINUITY_RATIO
    edges[:, 1:] |= jump_x
    edges[:, :-1] |= jump_x
    edges[1:] |= jump_y
    edges[:-1] |= jump_y
    size = 2 * band_px + 1
    yy, xx = torch.meshgrid(torch.arange(size) - band_px, torch.arange(size) - band_px, indexing="ij")
    disc = ((xx**2 + yy**2) <= band_px**2).double()[None, None]
    return F.conv2d(edges.double()[None, None], disc, padding=band_px)[0, 0] > 0


def scores(candidate: torch.Tensor, reference: torch.Tensor, band: torch.Tensor) -> dict:
    """Linear HDR row: PSNR/SSIM/edge on clipped sRGB, highlights on sRGB(compress_highlights(x))."""
    highlight = reference.amax(dim=0) > 1.0
    shown_candidate, shown_reference = linear_to_srgb(candidate), linear_to_srgb(reference)
    return {
        "psnr": psnr_db(shown_candidate, shown_reference),
        "ssim": ssim(shown_candidate, shown_reference),
        "edge": psnr_db(shown_candidate, shown_reference, band),
        "highlight": psnr_db(linear_to_srgb(compress_highlights(candidate)),
                             linear_to_srgb(compress_highlights(reference)), highlight),
        "energy": energy_ratio(candidate, reference),
    }


# --- the run ---------------------------------------------------------------------------------------------


def evaluate(folder: Path, eight_bit_encoding: str = "shoulder") -> list[dict]:
    data = load_scene_folder(folder)
    pinhole, depth_m, reference, lens = data["pinhole"], data["depth_m"], data["reference"], data["lens"]
    band = edge_band(depth_m)
    rows = []
    inputs = (("linear HDR", pinhole, False), ("8-bit sRGB", eight_bit(pinhole, eight_bit_encoding), True))
    for input_name, image, clipped in inputs:
        candidates = {}
        start = time.perf_counter()
        candidates["bokehsim"] = run_bokehsim(image, depth_m, lens, data["look"], clipped)
        seconds = time.perf_counter() - start
        candidates["gaussian"] = run_gaussian(image, depth_m, lens)
        candidates["unchanged"] = image
        blender = run_blender(image, depth_m, lens, data["max_coc_px"])
        if blender is not None:
            candidates["blender"] = blender
        for method, output in candidates.items():
            # 8-bit row: bokehsim's output is already display-referred; the baselines' output is the
            # decoded 8-bit range [0, 1], also display-referred; the reference is compressed.
            display_output = output if not clipped else output.clamp(0, 1)
            row = {"scene": data["name"], "input": input_name, "method": method,
                   "ref_noise": data["reference_noise_db"],
                   "seconds": seconds if method == "bokehsim" else math.nan}
            if clipped:
                row.update(_display_scores(display_output, reference, band))
            else:
                row.update(scores(output, reference, band))
            rows.append(row)
    return rows


def _display_scores(output: torch.Tensor, reference: torch.Tensor, band: torch.Tensor) -> dict:
    """8-bit row: output is display-referred linear in [0, 1]; the reference goes through the shoulder."""
    shown_output = linear_to_srgb(output)
    shown_reference = linear_to_srgb(compress_highlights(reference))
    highlight = reference.amax(dim=0) > 1.0
    return {"psnr": psnr_db(shown_output, shown_reference), "ssim": ssim(shown_output, shown_reference),
            "edge": psnr_db(shown_output, shown_reference, band),
            "highlight": psnr_db(shown_output, shown_reference, highlight),
            "energy": energy_ratio(output, compress_highlights(reference))}


def markdown(rows: list[dict]) -> str:
    lines = ["| scene | input | method | PSNR dB | SSIM | edge PSNR dB | highlight PSNR dB | energy | ref noise dB |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    number = lambda value: "-" if math.isnan(value) else f"{value:.2f}"  # noqa: E731
    for row in rows:
        lines.append(f"| {row['scene']} | {row['input']} | {row['method']} | {number(row['psnr'])} | {row['ssim']:.4f} | "
                     f"{number(row['edge'])} | {number(row['highlight'])} | {row['energy']:.3f} | {row['ref_noise']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ground_truth", type=Path, help="folder written by `bokehsim groundtruth` (one subfolder per scene)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"markdown file (default {RESULTS})")
    parser.add_argument("--eight-bit", choices=("shoulder", "clip"), default="shoulder",
                        help="how the 8-bit input is encoded (see eight_bit); default shoulder")
    args = parser.parse_args(argv)
    folders = sorted(p.parent for p in args.ground_truth.glob("*/reference.exr.json"))
    if not folders:
        print(f"{args.ground_truth}: no finished ground-truth scenes (run `bokehsim groundtruth` first)", file=sys.stderr)
        return 2
    rows = []
    for folder in folders:
        print(f"{folder.name} ...", file=sys.stderr)
        rows.extend(evaluate(folder, args.eight_bit))
    table = markdown(rows)
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())

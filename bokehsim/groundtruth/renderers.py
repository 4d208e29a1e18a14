"""The three Mitsuba renders: pinhole, thin-lens reference, and aperture-sample accumulation.

Every render is split into passes of at most :data:`LANES_PER_PASS` samples, because the LLVM
variant traces a whole pass as one wavefront and its memory grows with pixels x samples. With a box
pixel filter each pass is a plain per-pixel mean, so the passes average exactly.

References come as two independent halves (different seeds, or the even/odd lens samples): their
mean is the reference and their difference measures its noise for free (see :func:`noise_psnr_db`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import torch

from ..aperture import Aperture
from ..tone import linear_to_srgb
from .builder import aperture_radius_m, camera_to_world, pinhole_sensor_dict, sheared_offset, thinlens_sensor_dict
from .looks import is_plain_circle, lens_samples, vignetting_mask, vignetting_offsets
from .scene import Shot

#: Samples traced per ``mi.render`` call (pixels x spp); ~1 GB of wavefront state in LLVM mode.
LANES_PER_PASS = 1 << 21
#: Seed streams: every pass of every render draws from its own seed, stream * SEED_STRIDE + pass.
SEED_STRIDE = 1 << 20
PINHOLE_STREAM, REFERENCE_STREAMS, ACCUMULATION_STREAM = 1, (2, 3), 4

Tick = Callable[[], None]


@dataclass(frozen=True)
class Reference:
    """A depth-of-field reference and the two independent halves it averages.

    Attributes:
        image: ``(H, W, 3)`` float32 linear radiance.
        halves: two ``(H, W, 3)`` float32 renders with independent samples; image = their mean.
        method: ``thinlens`` or ``accumulation``.
        seconds: wall time of the render.
    """

    image: np.ndarray
    halves: tuple[np.ndarray, np.ndarray]
    method: str
    seconds: float


def spp_per_pass(shot: Shot) -> int:
    return max(1, LANES_PER_PASS // (shot.width_px * shot.height_px))


def pass_count(shot: Shot, spp: int) -> int:
    """Number of ``mi.render`` calls (progress ticks) that :func:`render_spp` makes for ``spp``."""
    return math.ceil(spp / spp_per_pass(shot))


def reference_pass_count(shot: Shot, method: str) -> int:
    """Progress ticks of :func:`render_reference`: one per pass, or one per lens sample."""
    if method == "accumulation":
        return shot.spp
    return pass_count(shot, shot.spp // 2) + pass_count(shot, shot.spp - shot.spp // 2)


def render_spp(mi: ModuleType, scene, sensor, shot: Shot, spp: int, stream: int, tick: Tick | None = None) -> np.ndarray:
    """Mean of ``spp`` samples per pixel, in passes; ``(H, W, 3)`` float64 linear."""
    chunk = spp_per_pass(shot)
    total = np.zeros((shot.height_px, shot.width_px, 3))
    done = 0
    for index in range(pass_count(shot, spp)):
        count = min(chunk, spp - done)
        image = mi.render(scene, sensor=sensor, spp=count, seed=stream * SEED_STRIDE + index)
        total += np.asarray(image, dtype=np.float64)[..., :3] * count
        done += count
        if tick:
            tick()
    return total / spp


def render_pinhole(mi: ModuleType, scene, shot: Shot, tick: Tick | None = None) -> tuple[np.ndarray, float]:
    """The all-in-focus input: ``(H, W, 3)`` float32 linear, and the seconds it took."""
    start = time.perf_counter()
    image = render_spp(mi, scene, scene.sensors()[0], shot, shot.spp, PINHOLE_STREAM, tick)
    return image.astype(np.float32), time.perf_counter() - start


def render_reference(mi: ModuleType, scene, shot: Shot, method: str, tick: Tick | None = None) -> Reference:
    """The depth-of-field reference with ``shot.spp`` samples per pixel in all.

    Args:
        method: ``thinlens`` (Mitsuba's thin-lens camera; circle only) or ``accumulation``
            (pinhole renders from lens samples over the aperture shape, any look).
    """
    start = time.perf_counter()
    if method == "thinlens":
        if not is_plain_circle(shot.look):
            raise ValueError(f"the thinlens camera renders the circle look only, not {shot.look.spec}")
        sensor = mi.load_dict(thinlens_sensor_dict(mi, shot))
        half_spp = shot.spp // 2
        halves = (render_spp(mi, scene, sensor, shot, half_spp, REFERENCE_STREAMS[0], tick),
                  render_spp(mi, scene, sensor, shot, shot.spp - half_spp, REFERENCE_STREAMS[1], tick))
        image = (halves[0] * half_spp + halves[1] * (shot.spp - half_spp)) / shot.spp
    else:
        image, halves = render_accumulated(mi, scene, shot, shot.look, shot.spp, tick)
    as_float = tuple(h.astype(np.float32) for h in halves)
    return Reference(image.astype(np.float32), as_float, method, time.perf_counter() - start)


def render_accumulated(
    mi: ModuleType, scene, shot: Shot, look: Aperture, lens_samples_count: int, tick: Tick | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Average pinhole renders from ``lens_samples_count`` camera positions spread over the aperture.

    Each position a (kernel frame, see :mod:`bokehsim.groundtruth.looks`) moves the pinhole to
    (u R, -v R, 0) and shears its frustum so that the focus plane z = S1 projects where it does for
    the centred pinhole: points on that plane stay sharp and a point at S2 traces the aperture shape
    scaled to c(S2). This is exactly the ray set of a thin lens with that aperture (Mitsuba's
    ``thinlens`` draws the same rays, one lens sample per path instead of one per image). Each
    position is rendered with 1 spp and its own seed, so pixel jitter and lighting are sampled as
    often as the lens. Each position is weighted by the look's intensity there and, with optical
    vignetting (cat-eye, swirl), per pixel by :func:`~bokehsim.groundtruth.looks.vignetting_mask`;
    dividing by the weight sum normalises every pixel's kernel (CONVENTIONS).

    Returns:
        The mean ``(H, W, 3)`` float64 and the means of its two halves (independent lens-sample sets).
    """
    sensor = mi.load_dict(pinhole_sensor_dict(mi, shot))
    params = mi.traverse(sensor)
    radius_m = aperture_radius_m(shot)
    # Two independently shifted low-discrepancy sets: each half is an unbiased estimate on its own,
    # so their difference measures the reference's error (the halves of one set would not be).
    first, second = (lens_samples(look, count, seed=seed) for seed, count in
                     ((0, lens_samples_count // 2), (1, lens_samples_count - lens_samples_count // 2)))
    positions = np.concatenate([first[0], second[0]])
    intensities = np.concatenate([first[1], second[1]])
    half_of = np.repeat([0, 1], [len(first[0]), len(second[0])])
    offsets = vignetting_offsets(look, shot.height_px, shot.width_px)
    sums = [np.zeros((shot.height_px, shot.width_px, 3)) for _ in range(2)]
    weights = [np.zeros((shot.height_px, shot.width_px, 1)) for _ in range(2)]
    for index, ((u, v), intensity) in enumerate(zip(positions, intensities)):
        lens_m = (float(u) * radius_m, -float(v) * radius_m)  # kernel y points down, the scene's y up
        offset_x, offset_y = sheared_offset(shot, lens_m)
        params["to_world"] = camera_to_world(mi, lens_m)
        params["principal_point_offset_x"] = float(offset_x)
        params["principal_point_offset_y"] = float(offset_y)
        params.update()
        image = np.asarray(mi.render(scene, sensor=sensor, spp=1, seed=ACCUMULATION_STREAM * SEED_STRIDE + index),
                           dtype=np.float64)[..., :3]
        weight = intensity if offsets is None else intensity * vignetting_mask(look, np.array([u, v]), offsets)[..., None]
        sums[half_of[index]] += weight * image
        weights[half_of[index]] += weight
        if tick:
            tick()
    sum_all, weight_all = sums[0] + sums[1], weights[0] + weights[1]
    halves = tuple(_normalise(total, weight, sum_all, weight_all) for total, weight in zip(sums, weights))
    return _normalise(sum_all, weight_all, sum_all, weight_all), halves


def _normalise(total: np.ndarray, weight: np.ndarray, fallback_total: np.ndarray, fallback_weight) -> np.ndarray:
    """total / weight; where no lens sample passed the vignetting (a sliver too thin for the lens
    samples to hit), fall back to the mean of both halves rather than leave a black pixel."""
    if np.isscalar(weight) or np.all(weight > 0):
        return total / weight
    plain = fallback_total / np.maximum(fallback_weight, 1e-12)
    return np.where(weight > 0, total / np.maximum(weight, 1e-12), plain)


def srgb(image: np.ndarray) -> np.ndarray:
    """Linear ``(..., 3)`` -> sRGB-encoded values in [0, 1] (clipped), float64."""
    return linear_to_srgb(torch.from_numpy(np.asarray(image, dtype=np.float64))).numpy()


def psnr_db(a: np.ndarray, b: np.ndarray, *, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of ``a`` against ``b`` (inf when equal)."""
    mse = float(np.mean((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def noise_psnr_db(halves: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """Noise of a reference from its two independent halves, on sRGB-encoded images.

    Returns:
        (PSNR of one half against the other, estimated PSNR of their mean against the noiseless
        image). Why +6.02 dB: the difference of two halves with noise variance s^2 each has
        variance 2 s^2, while their mean has s^2 / 2 - a quarter.
    """
    between = psnr_db(srgb(halves[0]), srgb(halves[1]))
    return between, between + 10.0 * math.log10(4.0)

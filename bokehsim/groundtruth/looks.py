"""Aperture looks for the ground truth, taken from :mod:`bokehsim.aperture` so that the reference and
the renderer share one definition of every shape (names, keys, orientation, cat-eye geometry).

Frame (that of :mod:`bokehsim.aperture`): the *kernel* frame of a point behind the focus plane, x to
the right, y down like image rows, in units of the circumscribed radius. A lens sample at kernel
position (u, v) is the camera position (u R, -v R, 0) metres in the scene frame (y up), R the
circumscribed aperture radius: a point behind focus is then smeared towards +(u, v) in the image,
so its kernel has the shape as written here, and a point in front of focus gets it flipped through
its centre, as CONVENTIONS require.
"""

from __future__ import annotations

import numpy as np
import torch

from ..aperture import APERTURE_NAMES, Aperture, parse_aperture
from ..errors import InputError
from ..looks import load_look, shipped_look_paths


def parse_look(spec: str, *, name: str = "--look") -> Aperture:
    """An aperture spec (``blades:n=7,rotation=15,curvature=0.3``, ``cat-eye:strength=0.6`` ...) or
    the name of a lens look of :mod:`bokehsim.looks` (``modern-50mm``, a ``.toml`` path), as the
    :class:`~bokehsim.aperture.Aperture` the reference renders.

    Raises:
        InputError: one line starting with ``name`` (the option or the scene-file key); also for
            axial chromatic aberration, which the ground truth does not render.

    Example:
        >>> parse_look("anamorphic:squeeze=2").spec
        'anamorphic:squeeze=2'
    """
    shape = spec.partition(":")[0].strip()
    if shape in APERTURE_NAMES:
        look = parse_aperture(spec, source=name)
    elif shape in shipped_look_paths() or spec.strip().lower().endswith(".toml"):
        look = load_look(spec.strip(), source=name).aperture
    else:
        raise InputError(f"{name}: expected an aperture spec ({', '.join(APERTURE_NAMES)}) or a look "
                         f"({', '.join(shipped_look_paths()) or 'none shipped'}), got {spec!r}")
    if look.chromatic:
        raise InputError(f"{name}: chromatic aberration is not rendered by the ground truth, got {spec!r}")
    return look


def is_plain_circle(look: Aperture) -> bool:
    """True when Mitsuba's ``thinlens`` camera renders the look exactly (a flat, round, clear disc)."""
    return look == parse_aperture("circle")


def lens_samples(look: Aperture, count: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` lens samples spread over the look: kernel-frame positions ``(count, 2)`` and weights.

    The points are the R2 low-discrepancy sequence over the square [-1, 1]^2 (randomly shifted by
    ``seed``), keeping those where the look's intensity is positive, in order: any prefix and the
    sets of two seeds are independent estimates, which the noise estimate relies on. The weight is the
    look's intensity there (1 inside a flat shape; a radial profile such as soap-bubble weights its rim).

    With optical vignetting the kernel moves within the look's circumscribed ellipse from pixel to
    pixel (:func:`vignetting_mask`), so the samples cover that ellipse uniformly (weight 1) and the
    look's intensity is applied per pixel.
    """
    vignetted = (look.cat_eye or look.swirl) > 0

    def weigh(square: np.ndarray) -> np.ndarray:
        if vignetted:
            return _inside_ellipse(look, square[:, 0], square[:, 1])
        return look.intensity(torch.from_numpy(square[:, 0]), torch.from_numpy(square[:, 1])).numpy()

    positions = np.empty((0, 2))
    weights = np.empty(0)
    total = 2 * count
    while len(positions) < count:
        square = 2.0 * _r2_sequence(total, seed) - 1.0
        intensity = weigh(square)
        positions, weights = square[intensity > 0], intensity[intensity > 0]
        total *= 2
    return positions[:count], weights[:count].astype(np.float64)


def _r2_sequence(count: int, seed: int) -> np.ndarray:
    """Roberts' R2 sequence in [0, 1)^2 (generalised golden ratio), with a Cranley-Patterson shift."""
    g = 1.32471795724474602596  # the plastic number
    alpha = np.array([1.0 / g, 1.0 / g**2])
    shift = np.random.default_rng(seed).random(2)
    return np.mod(shift + np.arange(1, count + 1)[:, None] * alpha, 1.0)


def vignetting_offsets(look: Aperture, height_px: int, width_px: int) -> np.ndarray | None:
    """``(4, H, W)`` placement of each pixel's vignetted kernel (kernel frame, radii), or None.

    The displacement is :meth:`bokehsim.aperture.Aperture.vignette_offsets` (cat-eye: outward by
    strength * rho * |c|, CONVENTIONS; swirl: by rho squared).
    """
    offsets = look.vignette_offsets(height_px, width_px)
    return None if offsets is None else offsets.double().numpy()


def vignetting_mask(look: Aperture, position: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(H, W)`` weight of lens sample ``position`` (u, v) at every pixel, under optical vignetting.

    Why per pixel: optical vignetting clips the pupil differently for every direction, i.e. for every
    pixel x. Pixel x's kernel is the look intersected with its circumscribed ellipse displaced by
    o = ``offsets[:2, x]`` (CONVENTIONS, cat-eye), centred on the pixel as the renderer's kernels are
    (:func:`bokehsim.scatter.row_runs`): the look moved by -a (a = ``offsets[2:, x]``, half of o for a
    disc), the ellipse by o - a. Sample s therefore weighs the look's intensity at s + a where
    s + a - o lies in the ellipse, and 0 elsewhere. In front of focus the whole picture flips through
    the kernel centre, as the renderer's flip does.
    """
    shape_u, shape_v = position[0] + offsets[2], position[1] + offsets[3]  # the look moved by -a
    intensity = look.intensity(torch.from_numpy(shape_u.ravel()), torch.from_numpy(shape_v.ravel())).numpy()
    clipped = _inside_ellipse(look, (shape_u - offsets[0]).ravel(), (shape_v - offsets[1]).ravel())
    return (intensity * clipped).reshape(offsets.shape[1:])


def _inside_ellipse(look: Aperture, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """1.0 where kernel-frame points (u, v) lie in the look's circumscribed ellipse, else 0.0."""
    inverse = np.linalg.inv(look.stretch.numpy())  # kernel frame -> round frame of the ellipse
    x = inverse[0, 0] * u + inverse[0, 1] * v
    y = inverse[1, 0] * u + inverse[1, 1] * v
    return (x * x + y * y <= 1.0).astype(np.float64)

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
    """
    positions = np.empty((0, 2))
    weights = np.empty(0)
    total = 2 * count
    while len(positions) < count:
        square = 2.0 * _r2_sequence(total, seed) - 1.0
        intensity = look.intensity(torch.from_numpy(square[:, 0]), torch.from_numpy(square[:, 1])).numpy()
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
    """``(2, H, W)`` centre of each pixel's displaced vignetting ellipse (kernel frame, radii), or None.

    The displacement is :meth:`bokehsim.aperture.Aperture.vignette_offsets` (cat-eye: outward by
    strength * rho * |c|, CONVENTIONS; swirl: by rho squared).
    """
    offsets = look.vignette_offsets(height_px, width_px)
    return None if offsets is None else offsets.double().numpy()


def vignetting_mask(look: Aperture, position: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(H, W)`` 1 where lens sample ``position`` (u, v) also lies in the pixel's displaced ellipse.

    Why per pixel: optical vignetting clips the pupil differently for every direction, i.e. for every
    pixel x. Pixel x receives the light of lens sample a only if a also lies in the circumscribed
    ellipse displaced to ``offsets[:, x]``. For a point behind focus the kernel is then the aperture
    intersected with that displaced copy, as CONVENTIONS define the cat-eye; in front of focus the
    whole picture flips through the kernel centre, so the intersection sits on the inner side there.
    """
    inverse = np.linalg.inv(look.stretch.numpy())  # kernel frame -> round frame of the ellipse
    du = position[0] - offsets[0]
    dv = position[1] - offsets[1]
    x = inverse[0, 0] * du + inverse[0, 1] * dv
    y = inverse[1, 0] * du + inverse[1, 1] * dv
    return (x * x + y * y <= 1.0).astype(np.float64)

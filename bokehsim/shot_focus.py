"""What a shot gives, without an image: depth-of-field limits, hyperfocal distance, how melted the
background is, and the focus and aperture that keep two people sharp together.

The background's blur is measured as a *fraction of the frame width*: the CoC diameter on the
sensor divided by the sensor width w_s. It does not depend on the pixel count, so the same shot
reads the same at 1280 or 6000 px. Classes (docs/shots.md explains why these numbers):

- ``recognisable``: blur under 1 % of the frame width. A background object (a face, a book spine,
  a window frame spans about 3-10 % of the frame) keeps its outline; the set reads.
- ``soft``: 1 % to 3 %. Objects read as shapes and colours, their details are gone.
- ``melted``: over 3 %. The blur is as wide as the objects themselves: colour fields and bubbles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .depth import _json_float
from .lens import FULL_FRAME_ACCEPTABLE_COC_MM, coc_scale_px, depth_of_field_limits_m, hyperfocal_distance_m
from .shot import Shot

#: Upper bounds (fraction of the frame width) of the "recognisable" and "soft" classes.
RECOGNISABLE_MAX_FRACTION = 0.01
SOFT_MAX_FRACTION = 0.03

#: The smallest aperture of ordinary lenses; past it we say diffraction takes over.
MAX_F_NUMBER = 22.0
#: Widest f-number assumed when no look says what the lens was modelled at.
WIDEST_F_NUMBER = 1.0
#: Wavelength for the Airy disc (green, where the eye is most sensitive), in mm.
WAVELENGTH_MM = 550e-6
#: Image width assumed for pixel numbers when there is no image (a 1080p frame).
DEFAULT_IMAGE_WIDTH_PX = 1920


def blur_class(fraction_of_width: float) -> str:
    """``recognisable``, ``soft`` or ``melted`` for a CoC given as a fraction of the frame width.

    Example:
        >>> blur_class(0.004), blur_class(0.02), blur_class(0.05)
        ('recognisable', 'soft', 'melted')
    """
    if fraction_of_width < RECOGNISABLE_MAX_FRACTION:
        return "recognisable"
    return "soft" if fraction_of_width < SOFT_MAX_FRACTION else "melted"


def coc_fraction_of_width(
    depth_m: float, *, focal_length_mm: float, f_number: float, focus_distance_m: float, sensor_width_mm: float = 36.0
) -> float:
    """Signed CoC diameter of a point at z-depth ``depth_m`` as a fraction of the frame width (c / w_s).

    With ``image_width_px = 1`` the CoC "in pixels" of :func:`bokehsim.lens.coc_scale_px` is exactly
    this fraction.

    Example:
        >>> round(coc_fraction_of_width(4.5, focal_length_mm=85, f_number=1.8, focus_distance_m=1.5), 4)
        0.0525
    """
    k = coc_scale_px(
        focal_length_mm=focal_length_mm, f_number=f_number, focus_distance_m=focus_distance_m,
        sensor_width_mm=sensor_width_mm, image_width_px=1,
    )
    return k * (1.0 / focus_distance_m - 1.0 / depth_m)


def airy_disc_mm(f_number: float) -> float:
    """Diameter of the Airy disc to its first dark ring, 2.44 * lambda * N, in mm at 550 nm."""
    return 2.44 * WAVELENGTH_MM * f_number


def shot_report(shot: Shot, *, image_width_px: int | None = None) -> dict:
    """The focus report of a shot, focused on its subject.

    Args:
        shot: the shot.
        image_width_px: W for the pixel numbers; default :data:`DEFAULT_IMAGE_WIDTH_PX`.

    Returns:
        A JSON-ready dict: ``focus_distance_m``, ``hyperfocal_m``, ``dof_near_m``, ``dof_far_m``
        ("inf" past the hyperfocal distance), ``acceptable_coc_mm``, ``background_distance_m``,
        ``background_coc_mm``, ``background_coc_fraction`` (of the frame width),
        ``background_coc_px`` (at ``image_width_px``), ``background`` (the class) and
        ``image_width_px``.

    Example:
        >>> shot_report(Shot(85, 1.8, 1.5, 3.0))["background"]
        'melted'
    """
    width_px = image_width_px or DEFAULT_IMAGE_WIDTH_PX
    lens = {"focal_length_mm": shot.focal_length_mm, "f_number": shot.f_number, "sensor_width_mm": shot.sensor_width_mm}
    near_m, far_m = depth_of_field_limits_m(focus_distance_m=shot.camera_to_subject_m, **lens)
    fraction = coc_fraction_of_width(shot.background_distance_m, focus_distance_m=shot.camera_to_subject_m, **lens)
    return {
        "focal_length_mm": shot.focal_length_mm,
        "f_number": shot.f_number,
        "sensor_width_mm": shot.sensor_width_mm,
        "focus_distance_m": _json_float(shot.camera_to_subject_m),
        "hyperfocal_m": _json_float(hyperfocal_distance_m(**lens)),
        "dof_near_m": _json_float(near_m),
        "dof_far_m": _json_float(far_m),
        "acceptable_coc_mm": FULL_FRAME_ACCEPTABLE_COC_MM * shot.sensor_width_mm / 36.0,
        "background_distance_m": _json_float(shot.background_distance_m),
        "background_coc_mm": _json_float(fraction * shot.sensor_width_mm),
        "background_coc_fraction": _json_float(fraction),
        "background_coc_px": _json_float(fraction * width_px),
        "background": blur_class(fraction),
        "image_width_px": width_px,
    }


@dataclass(frozen=True)
class TwoPlanes:
    """The answer of :func:`also_sharp`.

    Attributes:
        near_m, far_m: the two planes' z-depths in metres.
        focus_distance_m: S1 that gives both the same |c| (their harmonic mean).
        f_number: the smallest N that keeps both within ``max_coc_px`` (at least the lens's widest).
        coc_px: |c| of both planes at that focus and f-number.
        airy_px: Airy disc diameter at that f-number, in pixels.
        widest_f_number, max_f_number: the lens's range.
        problem: one sentence when N is past the range or diffraction softens both; else None.
    """

    near_m: float
    far_m: float
    focus_distance_m: float
    f_number: float
    coc_px: float
    airy_px: float
    widest_f_number: float
    max_f_number: float
    problem: str | None


def also_sharp(
    shot: Shot,
    other_m: float,
    *,
    max_coc_px: float = 1.0,
    image_width_px: int | None = None,
    widest_f_number: float | None = None,
) -> TwoPlanes:
    """Focus distance and widest aperture that keep the subject and a plane at ``other_m`` sharp.

    c is linear in inverse depth (CONVENTIONS), so the focus that gives both planes the same |c| is
    at 1/S1 = (1/d1 + 1/d2) / 2, where |c| = K |1/d1 - 1/d2| / 2 with K proportional to 1/N.
    Solving |c| = max_coc_px for N:

        N = f^2 S1 |1/d1 - 1/d2| / (2 (1000 S1 - f) p c_max),   p = w_s / W

    Args:
        shot: the shot; its subject distance is the first plane, its focal length and sensor are used.
        other_m: z-depth of the second plane in metres (> f).
        max_coc_px: the CoC diameter (px) both may have; default one pixel.
        image_width_px: W; default :data:`DEFAULT_IMAGE_WIDTH_PX`.
        widest_f_number: the lens's widest N (a look's f-number); default :data:`WIDEST_F_NUMBER`.

    Example:
        >>> answer = also_sharp(Shot(50, 2.0, 2.0, 4.0), 3.0, image_width_px=1920)
        >>> round(answer.focus_distance_m, 2), round(answer.f_number, 1), answer.problem is None
        (2.4, 11.3, True)
    """
    width_px = image_width_px or DEFAULT_IMAGE_WIDTH_PX
    widest = widest_f_number or WIDEST_F_NUMBER
    f = shot.focal_length_mm
    near_m, far_m = sorted((shot.camera_to_subject_m, other_m))
    focus_m = 2.0 / (1.0 / near_m + 1.0 / far_m)
    pitch_mm = shot.sensor_width_mm / width_px
    spread = 1.0 / near_m - 1.0 / far_m
    needed = f**2 * focus_m * spread / (2.0 * (1000.0 * focus_m - f) * pitch_mm * max_coc_px)
    f_number = max(needed, widest)
    coc = f**2 * focus_m * spread / (2.0 * (1000.0 * focus_m - f) * pitch_mm * f_number)
    airy_px = airy_disc_mm(f_number) / pitch_mm
    problem = None
    if f_number > MAX_F_NUMBER:
        problem = (
            f"f/{f_number:.1f} is past f/{MAX_F_NUMBER:g}, the smallest aperture of the lens; stopped down that far "
            f"diffraction (Airy disc 2.44 x 550 nm x N = {airy_px:.1f} px) softens both planes: bring them closer, "
            f"step back, or use a shorter lens"
        )
    elif airy_px > max_coc_px:
        problem = (
            f"at f/{f_number:.1f} diffraction (Airy disc {airy_px:.1f} px) is already wider than the "
            f"{max_coc_px:g} px asked: both planes will be slightly soft"
        )
    return TwoPlanes(near_m, far_m, focus_m, f_number, coc, airy_px, widest, MAX_F_NUMBER, problem)

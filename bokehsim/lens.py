"""Thin-lens model: circles of confusion in pixels from the numbers of a shot.

Symbols follow ``CONVENTIONS.md``: f focal length (mm), N f-number, S1 focus distance (m, z-depth),
S2 z-depth of a scene point (m), w_s sensor width (mm), W image width (px).

    c(S2) = (A * f / (1000 * S1 - f)) * (S2 - S1) / S2 / p,   A = f / N,  p = w_s / W

``c`` is the *signed* CoC diameter in output pixels: positive behind the focus plane, negative in
front of it. It is linear in inverse depth, ``c = K * (1/S1 - 1/S2)`` with
``K = A * f * S1 / ((1000 * S1 - f) * p)`` in px * m when S1, S2 are in metres. (CONVENTIONS.md
writes K with an extra factor 1000, which holds for distances in millimetres; the formula for c
above is the one both agree on.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .errors import InputError

#: Sensor presets by name: (width, height) in millimetres.
SENSORS_MM: dict[str, tuple[float, float]] = {
    "full-frame": (36.0, 24.0),
    "aps-c": (23.5, 15.6),
    "micro-four-thirds": (17.3, 13.0),
    "one-inch": (13.2, 8.8),
}

#: Circle of confusion (mm) a print viewer accepts as sharp, for a full-frame sensor; scaled by the
#: sensor diagonal for other sizes. Only used for the depth-of-field limits that `focus` prints.
FULL_FRAME_ACCEPTABLE_COC_MM = 0.03


def sensor_width_mm(sensor: str | float, *, source: str = "--sensor") -> float:
    """Sensor width w_s in mm from a preset name (``full-frame``, ``aps-c`` ...) or a number of mm.

    Args:
        sensor: a key of :data:`SENSORS_MM`, or a positive width in mm (a number or its text).
        source: what an error message starts with (the option, or a scene file and key).

    Raises:
        InputError: an unknown name, or not a positive finite width; one line.

    Example:
        >>> sensor_width_mm("aps-c"), sensor_width_mm("28.7")
        (23.5, 28.7)
    """
    if isinstance(sensor, bool):  # TOML true/false is not a width
        width = math.nan
    elif isinstance(sensor, (int, float)):
        width = float(sensor)
    elif sensor in SENSORS_MM:
        width = SENSORS_MM[sensor][0]
    else:
        try:
            width = float(sensor)
        except (TypeError, ValueError):
            names = ", ".join(SENSORS_MM)
            raise InputError(f"{source}: expected one of {names} or a width in mm, got {sensor!r}") from None
    if not (math.isfinite(width) and width > 0):
        raise InputError(f"{source}: expected a positive width in mm, got {sensor!r}")
    return width


@dataclass(frozen=True)
class Lens:
    """The camera of a shot. Holds configuration only; the maths lives in the functions below.

    Attributes:
        focal_length_mm: f, in mm.
        f_number: N (dimensionless).
        focus_distance_m: S1, z-depth of the focus plane in metres.
        sensor_width_mm: w_s, in mm (36 for full frame).
    """

    focal_length_mm: float
    f_number: float
    focus_distance_m: float
    sensor_width_mm: float = 36.0

    def __post_init__(self) -> None:
        check_lens(self.focal_length_mm, self.f_number, self.focus_distance_m, self.sensor_width_mm)

    def coc_px(self, depth_m: torch.Tensor, image_width_px: int) -> torch.Tensor:
        """Signed CoC diameter in pixels for z-depths ``depth_m``; see :func:`coc_px`."""
        return coc_px(
            depth_m,
            focal_length_mm=self.focal_length_mm,
            f_number=self.f_number,
            focus_distance_m=self.focus_distance_m,
            sensor_width_mm=self.sensor_width_mm,
            image_width_px=image_width_px,
        )


def check_lens(focal_length_mm: float, f_number: float, focus_distance_m: float, sensor_width_mm: float) -> None:
    """Raise :class:`InputError` unless the numbers describe a lens that can focus at S1."""
    for name, value in (
        ("--focal-length", focal_length_mm),
        ("--f-number", f_number),
        ("--focus-distance", focus_distance_m),
        ("--sensor", sensor_width_mm),
    ):
        if not (math.isfinite(value) and value > 0):
            raise InputError(f"{name}: expected a positive finite number, got {value}")
    if 1000.0 * focus_distance_m <= focal_length_mm:
        raise InputError(
            f"--focus-distance: a {focal_length_mm:g} mm lens cannot focus at {focus_distance_m:g} m; "
            f"the focus distance must be larger than the focal length ({focal_length_mm / 1000:g} m)"
        )


def coc_scale_px(
    *, focal_length_mm: float, f_number: float, focus_distance_m: float, sensor_width_mm: float, image_width_px: int
) -> float:
    """K in ``c = K * (1/S1 - 1/S2)`` (S in metres), in px * m; K / S1 is the CoC of a point at infinity.

    Example:
        >>> round(coc_scale_px(focal_length_mm=50, f_number=2, focus_distance_m=2,
        ...                    sensor_width_mm=36, image_width_px=3600), 3)
        128.205
    """
    check_lens(focal_length_mm, f_number, focus_distance_m, sensor_width_mm)
    aperture_mm = focal_length_mm / f_number  # A
    pixel_pitch_mm = sensor_width_mm / image_width_px  # p
    return aperture_mm * focal_length_mm * focus_distance_m / (
        (1000.0 * focus_distance_m - focal_length_mm) * pixel_pitch_mm
    )


def coc_px(
    depth_m: torch.Tensor,
    *,
    focal_length_mm: float,
    f_number: float,
    focus_distance_m: float,
    sensor_width_mm: float,
    image_width_px: int,
) -> torch.Tensor:
    """Signed circle-of-confusion diameter c in output pixels (CONVENTIONS, "Thin lens").

    Args:
        depth_m: z-depth S2 in metres along the optical axis, any shape, > 0.
        focal_length_mm: f in mm.
        f_number: N.
        focus_distance_m: S1 in metres (z-depth of the focus plane).
        sensor_width_mm: w_s in mm.
        image_width_px: W, the width of the output image in pixels.

    Returns:
        Tensor like ``depth_m``: c in pixels, positive behind the focus plane, negative in front.

    Example:
        >>> c = coc_px(torch.tensor([2.0, 4.0]), focal_length_mm=50, f_number=2,
        ...            focus_distance_m=2, sensor_width_mm=36, image_width_px=3600)
        >>> [round(v, 3) for v in c.tolist()]
        [0.0, 32.051]
    """
    k = coc_scale_px(
        focal_length_mm=focal_length_mm,
        f_number=f_number,
        focus_distance_m=focus_distance_m,
        sensor_width_mm=sensor_width_mm,
        image_width_px=image_width_px,
    )
    return k * (1.0 / focus_distance_m - 1.0 / depth_m)


def hyperfocal_distance_m(
    *, focal_length_mm: float, f_number: float, sensor_width_mm: float, acceptable_coc_mm: float | None = None
) -> float:
    """Hyperfocal distance H = f^2 / (N c) + f in metres; c defaults to 0.03 mm scaled to the sensor."""
    if acceptable_coc_mm is None:
        acceptable_coc_mm = FULL_FRAME_ACCEPTABLE_COC_MM * sensor_width_mm / 36.0
    return (focal_length_mm**2 / (f_number * acceptable_coc_mm) + focal_length_mm) / 1000.0


def depth_of_field_limits_m(
    *,
    focal_length_mm: float,
    f_number: float,
    focus_distance_m: float,
    sensor_width_mm: float,
    acceptable_coc_mm: float | None = None,
) -> tuple[float, float]:
    """Near and far limits (m) of acceptable sharpness; the far limit is ``inf`` past hyperfocal."""
    h = hyperfocal_distance_m(
        focal_length_mm=focal_length_mm, f_number=f_number, sensor_width_mm=sensor_width_mm,
        acceptable_coc_mm=acceptable_coc_mm,
    )
    f_m = focal_length_mm / 1000.0
    s = focus_distance_m
    near = s * (h - f_m) / (h + s - 2 * f_m)
    far = math.inf if s >= h else s * (h - f_m) / (h - s)
    return near, far

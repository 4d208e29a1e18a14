"""Aperture shapes as span tables, radial profiles, and optical vignetting (cat-eye, swirl).

A kernel is the image of the aperture scaled so its circumscribed diameter equals |c| and
normalised to sum to 1 (CONVENTIONS, "Aperture shapes"). bokehsim stores a shape once, in units of
its circumscribed radius, as horizontal *runs* per table row (see docs/architecture.md): the
scatter turns each run of each output row into two signed entries of a difference buffer, so the
cost per pixel grows with the radius, not its square.

Frame: x to the right, y *down* (like image rows); (0, 0) is the kernel centre; the circumscribed
circle (or, for oval and anamorphic shapes, ellipse) has radius 1. User angles (``rotation``,
``angle``) turn counter-clockwise on screen.

Spec grammar (the same names and keys in ``--aperture``, :func:`make_aperture` and look files)::

    NAME[:key=value,...]       e.g.  blades:n=7,rotation=15,curvature=0.3
                                     anamorphic:squeeze=2,blades=7,cat_eye=0.5
                                     image:levels=4,path=star.png   (path= last: it takes the rest)

Every NAME takes its own keys plus the *modifiers* (``blades rotation curvature squeeze aspect
angle cat_eye swirl start obstruction chromatic``), so shapes, stretches and vignetting combine.
Profiles: ``--profile NAME[:key=value,...]`` with NAME in ``flat soap-bubble soft onion``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from . import aperture_shapes as shapes
from .errors import InputError

#: Rows of a span table; runs are sampled at row centres, so T rows give a y resolution of 2/T.
TABLE_ROWS = 1024
#: Columns used when a shape is rasterised from an inside-test (x resolution 2/TABLE_COLS).
TABLE_COLS = 4096
#: Most runs per row an image aperture may need (all grey levels together); beyond it the scatter
#: would slow down by that factor, so such a picture is refused.
MAX_IMAGE_RUNS = 48


@dataclass(frozen=True)
class SpanTable:
    """A kernel shape as runs per row, stored as running integrals over y.

    Attributes:
        left_integral: ``(T + 1, M)``: integral of the run's left end x_left(y) from y = -1 to the
            row boundary y_i = -1 + 2 i / T, in units of radius^2.
        right_integral: ``(T + 1, M)``: the same for x_right(y).
        weight: ``(M,)``: signed weight of run index m (e.g. +1 outer, -1 inner for a donut).
        area: sum over m of weight_m times the area between x_left and x_right, in radius^2; the
            scatter divides by ``area * r^2`` so that the kernel sums to 1.
        ellipse: ``(a, b, angle_deg)``: semi-axes (units of the radius) and rotation of the
            circumscribed ellipse, the shape that optical vignetting displaces (cat-eye). ``a`` lies
            along ``(cos angle, sin angle)`` of the y-down frame (``angle`` turns clockwise on screen).
        integrals: ``(T + 1, 2M)``: ``left_integral`` and ``right_integral`` side by side (derived),
            so the scatter looks both up with one gather.
    """

    left_integral: torch.Tensor
    right_integral: torch.Tensor
    weight: torch.Tensor
    area: float
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0)
    integrals: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "integrals", torch.cat([self.left_integral, self.right_integral], dim=1))

    @property
    def rows(self) -> int:
        return self.left_integral.shape[0] - 1

    @property
    def runs(self) -> int:
        return self.left_integral.shape[1]

    def to(self, device: torch.device | str) -> "SpanTable":
        return SpanTable(
            self.left_integral.to(device), self.right_integral.to(device), self.weight.to(device),
            self.area, self.ellipse,
        )


def row_centres(rows: int = TABLE_ROWS, *, dtype=torch.float64) -> torch.Tensor:
    """y at the centre of each table row, ``(T,)`` in (-1, 1)."""
    return -1.0 + (torch.arange(rows, dtype=dtype) + 0.5) * (2.0 / rows)


def table_from_runs(
    left: torch.Tensor, right: torch.Tensor, weight: torch.Tensor | None = None,
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0),
) -> SpanTable:
    """Build a table from run end points sampled at the row centres.

    Args:
        left, right: ``(T, M)`` run ends in units of the radius; an empty run has ``left >= right``
            (it is stored with zero length at the centre of the nearest non-empty row's run, so strip
            averages stay exact and partial rows keep their centre).
        weight: ``(M,)`` signed run weights, default all ones.
        ellipse: the circumscribed ellipse used by optical vignetting.

    Raises:
        ValueError: the weighted area is not positive.

    Example:
        >>> table = table_from_runs(torch.full((4, 1), -1.0), torch.full((4, 1), 1.0))
        >>> table.area, table.runs
        (4.0, 1)
    """
    left = left.to(torch.float64).clone()
    right = right.to(torch.float64).clone()
    rows, runs = left.shape
    weight = torch.ones(runs, dtype=torch.float64) if weight is None else weight.to(torch.float64)
    empty = ~(right > left)
    centre = 0.5 * (left + right)
    for m in range(runs):
        centre[:, m] = _fill_from_nearest(centre[:, m], ~empty[:, m])
    left = torch.where(empty, centre, left)
    right = torch.where(empty, centre, right)
    dy = 2.0 / rows
    zero = torch.zeros(1, runs, dtype=torch.float64)
    left_integral = torch.cat([zero, torch.cumsum(left * dy, 0)])
    right_integral = torch.cat([zero, torch.cumsum(right * dy, 0)])
    area = float(((right_integral[-1] - left_integral[-1]) * weight).sum())
    if not area > 0:
        raise ValueError("aperture shape has no area")
    return SpanTable(left_integral.float(), right_integral.float(), weight.float(), area, ellipse)


def _fill_from_nearest(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Replace invalid entries by the value at the nearest valid index (0 where none is valid)."""
    if not bool(valid.any()):
        return torch.zeros_like(values)
    index = torch.arange(len(values))
    valid_index = index[valid]
    position = torch.searchsorted(valid_index, index).clamp(max=len(valid_index) - 1)
    before = valid_index[(position - 1).clamp_min(0)]
    after = valid_index[position]
    nearest = torch.where((index - before).abs() <= (after - index).abs(), before, after)
    return values[nearest]


def table_from_inside(
    inside: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], *, max_runs: int = 4,
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0), rows: int = TABLE_ROWS, cols: int = TABLE_COLS,
) -> SpanTable:
    """Rasterise a shape given by an inside-test ``inside(x, y) -> bool`` (units of the radius).

    Each table row is sampled at ``cols`` points; its runs of inside samples (at most ``max_runs``
    per row, the rest merged into the last) become the table's runs. Use it for shapes whose rows
    are not a single interval (stars, hearts, rings).
    """
    y = row_centres(rows)
    edges = -1.0 + torch.arange(cols + 1, dtype=torch.float64) * (2.0 / cols)
    x = 0.5 * (edges[:-1] + edges[1:])
    mask = inside(x[None, :].expand(rows, cols), y[:, None].expand(rows, cols)).bool()
    left, right = shapes.runs_from_mask(mask, edges)
    if left.shape[1] > max_runs:  # merge the surplus into the last run kept
        present = right > left
        last = torch.where(present, right, torch.full_like(right, -math.inf)).max(dim=1).values
        left, right = left[:, :max_runs].clone(), right[:, :max_runs].clone()
        surplus = present[:, max_runs:].any(dim=1)
        right[surplus, max_runs - 1] = last[surplus]
    return table_from_runs(left, right, ellipse=ellipse)


def circle_table(rows: int = TABLE_ROWS) -> SpanTable:
    """The unit disc: one run per row, ``x = +-sqrt(1 - y^2)``, computed exactly.

    Example:
        >>> round(circle_table().area, 4)  # pi, up to the midpoint rule over 1024 rows
        3.1416
    """
    y = row_centres(rows)
    half = torch.sqrt((1.0 - y * y).clamp_min(0.0))
    return table_from_runs(-half[:, None], half[:, None])


# ---------------------------------------------------------------------------------------------
# Optical vignetting across the frame


def vignetting_offsets(
    height: int, width: int, strength: float, *, start: float = 0.0, power: float = 1.0,
    ellipse: tuple[float, float, float] = (1.0, 1.0, 0.0), device=None, dtype=torch.float32,
) -> torch.Tensor:
    """Per-pixel displacement of the vignetting ellipse: radial, outward, growing with the field.

    A pixel at normalised field position rho (0 at the image centre, 1 at the corners; the
    distance from the centre over the half diagonal) gets its circumscribed ellipse displaced
    outward along the radius by ``2 * strength * rho'**power * h`` radii, where
    ``rho' = max(rho - start, 0) / (1 - start)`` and h is the ellipse's own radius along that
    direction (1 for a circle, so the displacement is ``strength * rho'**power * |c|``). Scaling by
    h keeps an oval or anamorphic cat-eye the same fraction of its width as a round one.

    Args:
        height, width: frame size in pixels.
        strength: 0..0.95; 0 = no vignetting.
        start: rho where the effect begins, in [0, 1).
        power: 1 for cat-eye (CONVENTIONS), 2 for swirl.
        ellipse: ``SpanTable.ellipse`` of the shape.

    Returns:
        ``(2, H, W)``: (dx, dy) of the displaced ellipse centre, in units of the kernel radius r.

    Example:
        >>> vignetting_offsets(3, 3, 0.5)[:, 0, 0].tolist()  # top-left corner: up and left by 1/sqrt(2)
        [-0.7071067690849304, -0.7071067690849304]
    """
    ys = torch.arange(height, device=device, dtype=dtype) - (height - 1) / 2.0
    xs = torch.arange(width, device=device, dtype=dtype) - (width - 1) / 2.0
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    half_diagonal = math.hypot((width - 1) / 2.0, (height - 1) / 2.0) or 1.0
    distance = torch.sqrt(xx * xx + yy * yy)
    if start >= 1.0:
        return torch.zeros(2, height, width, device=device, dtype=dtype)
    rho_eff = ((distance / half_diagonal - start) / (1.0 - start)).clamp_(0.0, 1.0)
    magnitude = rho_eff * rho_eff if power == 2 else (rho_eff if power == 1 else rho_eff**power)
    scale = magnitude.mul_(2.0 * strength).div_(distance.clamp_min_(1e-12))
    ux, uy = xx, yy  # times scale below: unit vectors times the magnitude
    a, b, angle_deg = ellipse
    if (a, b) != (1.0, 1.0):
        theta = math.radians(angle_deg)
        cos, sin = math.cos(theta), math.sin(theta)
        q11 = cos * cos / a**2 + sin * sin / b**2
        q22 = sin * sin / a**2 + cos * cos / b**2
        q12 = cos * sin * (1.0 / a**2 - 1.0 / b**2)
        ux, uy = xx / distance, yy / distance
        form = q11 * ux * ux + 2.0 * q12 * ux * uy + q22 * uy * uy  # 1 / h^2 along the radius
        scale = scale * distance / torch.sqrt(form.clamp_min(1e-12))
    return torch.stack([ux * scale, uy * scale])


def cat_eye_offsets(
    height: int, width: int, strength: float, *, start: float = 0.0, device=None, dtype=torch.float32
) -> torch.Tensor:
    """Per-pixel displacement of the vignetting disc for the cat-eye (CONVENTIONS).

    The kernel of a pixel at normalised field position rho (0 at the centre, 1 at the corner) is the
    aperture disc intersected with a same-size disc displaced *outward* along the radius by
    ``strength * rho' * |c|``, where ``rho' = max(rho - start, 0) / (1 - start)`` lets the effect
    begin part-way out. With |c| = 2r the displacement is ``2 * strength * rho'`` radii.

    Returns:
        ``(2, H, W)``: (dx, dy) of the displaced disc centre, in units of the kernel radius r.
    """
    return vignetting_offsets(height, width, strength, start=start, power=1.0, device=device, dtype=dtype)


# ---------------------------------------------------------------------------------------------
# Names, keys and ranges (shared by specs, the Python API and look files)

APERTURE_NAMES = ("circle", "blades", "oval", "anamorphic", "cat-eye", "swirl", "image", "mirror")
PROFILE_NAMES = ("flat", "soap-bubble", "soft", "onion")

#: Keys every aperture name accepts (combinations), in the order they are listed to the user.
MODIFIER_KEYS = (
    "blades", "rotation", "curvature", "squeeze", "aspect", "angle", "cat_eye", "swirl", "start",
    "obstruction", "chromatic",
)
#: A name's own keys and the Aperture field each one sets.
_NAME_KEYS: dict[str, dict[str, str]] = {
    "circle": {},
    "blades": {"n": "blades"},
    "oval": {},
    "anamorphic": {},
    "cat-eye": {"strength": "cat_eye"},
    "swirl": {"strength": "swirl"},
    "image": {"levels": "levels", "path": "image"},
    "mirror": {},
}
#: What a name sets when the user gives no value.
_NAME_DEFAULTS: dict[str, dict[str, object]] = {
    "circle": {},
    "blades": {"blades": 6},
    "oval": {"aspect": 1.5},
    "anamorphic": {"squeeze": 2.0},
    "cat-eye": {"cat_eye": 0.5},
    "swirl": {"swirl": 0.6},
    "image": {},
    "mirror": {"obstruction": 0.45},
}
#: Keys a name does not take although they are modifiers (its own key sets that field).
_NAME_EXCLUDES: dict[str, tuple[str, ...]] = {
    "blades": ("blades",), "oval": ("squeeze",), "anamorphic": ("aspect", "angle"),
    "cat-eye": ("cat_eye", "swirl"), "swirl": ("cat_eye", "swirl"), "image": ("blades", "curvature"),
}
#: (kind, low, high) of every numeric key; None = unbounded.
_RANGES: dict[str, tuple[type, float | None, float | None]] = {
    "blades": (int, 3, 16), "n": (int, 3, 16), "rotation": (float, None, None), "curvature": (float, 0.0, 1.0),
    "squeeze": (float, 1.0, 4.0), "aspect": (float, 1.0, 10.0), "angle": (float, None, None),
    "cat_eye": (float, 0.0, 0.95), "swirl": (float, 0.0, 0.95), "strength": (float, 0.0, 0.95),
    "start": (float, 0.0, 0.95), "obstruction": (float, 0.0, 0.9), "chromatic": (float, -0.005, 0.005),
    "levels": (int, 1, 16),
}

_PROFILE_KEYS: dict[str, tuple[str, ...]] = {
    "flat": ("sa_sign", "strength", "levels"),
    "soap-bubble": ("strength", "levels", "sa_sign"),
    "soft": ("strength", "levels", "sa_sign"),
    "onion": ("strength", "rings"),
}
_PROFILE_DEFAULT_STRENGTH = {"flat": 0.3, "soap-bubble": 0.5, "soft": 0.5, "onion": 0.3}
_PROFILE_RANGES: dict[str, tuple[type, float | None, float | None]] = {
    "strength": (float, 0.0, 1.0), "levels": (int, 2, 16), "rings": (int, 1, 8), "sa_sign": (int, -1, 1),
}
#: Default number of nested copies (table runs) of soft and soap-bubble profiles.
PROFILE_LEVELS = 6
#: In front of focus the mirrored spherical aberration is kept just short of the caustic.
_SA_ALPHA_FLOOR = -1.0 / 3.0 + 0.01


def aperture_keys(name: str) -> tuple[str, ...]:
    """Every key the aperture ``name`` accepts, its own first.

    Example:
        >>> aperture_keys("anamorphic")[:3]
        ('blades', 'rotation', 'curvature')
    """
    own = tuple(_NAME_KEYS[name])
    return own + tuple(k for k in MODIFIER_KEYS if k not in _NAME_EXCLUDES.get(name, ()))


def _parse_number(source: str, key: str, value, ranges) -> float | int:
    kind, low, high = ranges[key]
    text = value if isinstance(value, str) else repr(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool):
        number = math.nan
    ok = math.isfinite(number) and (low is None or number >= low) and (high is None or number <= high)
    if kind is int:
        ok = ok and number == int(number)
    if not ok:
        if low is not None and high is not None:
            bounds = f" in [{low:g}, {high:g}]"
        else:
            bounds = " (finite)"
        what = "an integer" if kind is int else "a number"
        raise InputError(f"{source}: {key}: expected {what}{bounds}, got {text}")
    return int(number) if kind is int else float(number)


def _split_items(rest: str) -> list[tuple[str, str]]:
    """``k=v,k=v`` -> pairs; ``path=`` takes everything after it (a file name may hold commas)."""
    items = []
    parts = rest.split(",")
    for i, part in enumerate(parts):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if key == "path" and sep:
            items.append((key, ",".join([value, *parts[i + 1 :]]).strip()))
            break
        items.append((key, value.strip() if sep else None))
    return items


# ---------------------------------------------------------------------------------------------
# Profile


@dataclass(frozen=True)
class Profile:
    """A radial profile of the kernel: intensity as a function of the shape's own radius rho.

    Holds configuration only; :meth:`bands` gives the staircase the table is built from.

    Attributes:
        name: ``flat``, ``soap-bubble`` (bright rim), ``soft`` (falling edge) or ``onion``
            (concentric ripple).
        strength: 0..1. soap-bubble: rim / centre = 1 + 2 strength; soft: centre / edge =
            1 + 2 strength; onion: the dark rings have 1 - strength of the bright ones. With
            ``sa_sign`` and ``flat`` it sets the amount of spherical aberration.
        levels: nested copies (table runs) of soft and soap-bubble profiles, 2..16.
        rings: onion: number of bright rings, 1..8.
        sa_sign: spherical aberration: 0 none (the same kernel on both sides of focus); +1
            under-corrected (the usual lens: soft behind focus, bright rim in front); -1
            over-corrected (soap bubbles behind focus, soft in front).
    """

    name: str = "flat"
    strength: float | None = None
    levels: int = PROFILE_LEVELS
    rings: int = 4
    sa_sign: int = 0

    def __post_init__(self) -> None:
        _check_profile(self, "profile")

    @property
    def effective_strength(self) -> float:
        return _PROFILE_DEFAULT_STRENGTH[self.name] if self.strength is None else self.strength

    @property
    def spec(self) -> str:
        """Canonical text, e.g. ``soap-bubble:strength=0.5``."""
        keys = []
        if self.strength is not None:
            keys.append(f"strength={self.strength:g}")
        if self.levels != PROFILE_LEVELS and "levels" in _PROFILE_KEYS[self.name]:
            keys.append(f"levels={self.levels}")
        if self.rings != 4 and self.name == "onion":
            keys.append(f"rings={self.rings}")
        if self.sa_sign:
            keys.append(f"sa_sign={self.sa_sign:+d}")
        return self.name + (":" + ",".join(keys) if keys else "")

    def kind(self, in_front: bool) -> str:
        """The profile actually drawn on one side of focus (spherical aberration swaps them)."""
        if self.sa_sign == 0:
            return self.name
        behind = "soft" if self.sa_sign > 0 else "soap-bubble"
        if not in_front:
            return behind
        return "soap-bubble" if behind == "soft" else "soft"

    def bands(self, in_front: bool = False) -> tuple[list[float], list[float]]:
        """Staircase ``(edges, values)``: value ``values[k]`` for ``edges[k] <= rho < edges[k+1]``.

        Example:
            >>> edges, values = Profile("soap-bubble", strength=0.5, levels=2).bands()
            >>> edges, round(values[1] / values[0], 6)
            ([0.0, 0.85, 1.0], 2.0)
        """
        return _profile_bands(self.name, self.effective_strength, self.levels, self.rings, self.sa_sign, in_front)


@functools.lru_cache(maxsize=256)
def _profile_bands(name, strength, levels, rings, sa_sign, in_front) -> tuple[list[float], list[float]]:
    if name == "onion":
        count = 2 * rings
        edges = [k / count for k in range(count + 1)]
        values = [1.0 if k % 2 == 1 else 1.0 - strength for k in range(count)]  # outermost bright
        return edges, values
    if name == "flat" and sa_sign == 0:
        return [0.0, 1.0], [1.0]
    edges = shapes.sa_band_edges(levels)
    behind = Profile(name, strength, levels, rings, sa_sign).kind(False)
    target = 1.0 + 2.0 * strength
    alpha = shapes.sa_alpha_for_ratio(target if behind == "soap-bubble" else 1.0 / target, tuple(edges))
    if sa_sign != 0 and in_front:
        alpha = max(-alpha, _SA_ALPHA_FLOOR)  # the defocus changes sign, the aberration does not
    return edges, shapes.sa_band_values(alpha, edges)


def _check_profile(profile: Profile, source: str) -> None:
    if profile.name not in PROFILE_NAMES:
        raise InputError(f"{source}: unknown profile {profile.name!r}; expected one of {', '.join(PROFILE_NAMES)}")
    for key in ("strength", "levels", "rings", "sa_sign"):
        value = getattr(profile, key)
        if value is not None:
            _parse_number(source, key, value, _PROFILE_RANGES)
    if profile.sa_sign != 0:
        if profile.name == "onion":
            raise InputError(f"{source}: sa_sign: onion rings cannot be combined with spherical aberration (use flat, soft or soap-bubble)")
        behind = profile.kind(False)
        if profile.name != "flat" and profile.name != behind:
            wanted = "+1" if profile.name == "soft" else "-1"
            raise InputError(
                f"{source}: sa_sign {profile.sa_sign:+d} puts {behind} behind focus but the profile asks "
                f"for {profile.name}; use sa_sign={wanted} (+1 under-corrected: soft background, "
                "-1 over-corrected: soap-bubble background)"
            )


def make_profile(name: str = "flat", *, source: str = "--profile", **keys) -> Profile:
    """A :class:`Profile` from a name and keys, checked (the Python form of ``--profile``).

    Raises:
        InputError: unknown name or key, or a value out of range; one line starting with ``source``.

    Example:
        >>> make_profile("soft", strength=0.25).spec
        'soft:strength=0.25'
    """
    if name not in PROFILE_NAMES:
        raise InputError(f"{source}: unknown profile {name!r}; expected one of {', '.join(PROFILE_NAMES)}")
    values = {}
    for key, value in keys.items():
        key = key.replace("-", "_")
        if key not in _PROFILE_KEYS[name]:
            raise InputError(f"{source}: {name} takes the keys {', '.join(_PROFILE_KEYS[name])}; got {key!r}")
        if value is None:
            raise InputError(f"{source}: {key}: expected {key}=VALUE, got {key!r} alone")
        values[key] = _parse_number(source, key, value, _PROFILE_RANGES)
    profile = replace(Profile(), name=name, **values) if values else Profile(name)
    _check_profile(profile, source)
    return profile


def parse_profile(spec: str | None, *, source: str = "--profile") -> Profile:
    """``NAME[:key=value,...]`` -> :class:`Profile` (``soap-bubble:strength=0.5``); None -> flat.

    Example:
        >>> parse_profile("onion:strength=0.2,rings=3").spec
        'onion:strength=0.2,rings=3'
    """
    if spec is None:
        return Profile()
    name, _, rest = spec.strip().partition(":")
    return make_profile(name.strip(), source=source, **dict(_split_items(rest)))


# ---------------------------------------------------------------------------------------------
# Aperture


@dataclass(frozen=True)
class Aperture:
    """An aperture look: the shape, its radial profile, optical vignetting, axial colour.

    Holds configuration only. :meth:`table` builds (and caches) the span table for one side of the
    focus plane, :meth:`vignette_offsets` the per-pixel displacement of the vignetting ellipse (None
    when the look has none), :meth:`channel_focus_scale` the per-channel focus of axial chromatic
    aberration. Fields have the names of the spec keys; build from text with :func:`parse_aperture`
    or from keys with :func:`make_aperture`.

    Attributes:
        name: the spec name it was made from (``circle`` ... ``mirror``), for display.
        blades: number of blades n (3..16), 0 for a round aperture.
        rotation: degrees counter-clockwise on screen; 0 = a vertex pointing up (blades, image).
        curvature: blade curvature, 0 straight .. 1 circle (arcs of radius 1 / curvature).
        squeeze: anamorphic squeeze: height |c|, width |c| / squeeze (1..4).
        aspect, angle: oval: major axis |c|, minor |c| / aspect, major axis ``angle`` degrees
            counter-clockwise from horizontal.
        cat_eye: optical vignetting strength (CONVENTIONS cat-eye), 0..0.95.
        swirl: Petzval swirl strength, 0..0.95: cat-eye vignetting growing with rho squared.
        start: field position rho where cat-eye or swirl begins, [0, 0.95].
        obstruction: mirror lens: diameter of the central obstruction over |c| (0..0.9).
        image: path of a grayscale picture used as the aperture (circumscribed circle = |c|).
        levels: grey levels the picture is decomposed into (1..16).
        chromatic: axial chromatic aberration, the focal length of red and blue relative to green
            minus 1 (+-0.005; 0 = off).
        profile: the radial :class:`Profile`.
    """

    name: str = "circle"
    blades: int = 0
    rotation: float = 0.0
    curvature: float = 0.0
    squeeze: float = 1.0
    aspect: float = 1.0
    angle: float = 0.0
    cat_eye: float = 0.0
    swirl: float = 0.0
    start: float = 0.0
    obstruction: float = 0.0
    image: str | None = None
    levels: int = 6
    chromatic: float = 0.0
    profile: Profile = field(default_factory=Profile)

    def __post_init__(self) -> None:
        _check_aperture(self, "aperture")

    # -- what the renderer calls ------------------------------------------------------------

    def table(self, in_front: bool = False) -> SpanTable:
        """The span table of this look for points behind (default) or in front of the focus plane.

        The two differ only with spherical aberration (``profile.sa_sign``); the 180-degree flip in
        front of focus is the scatter's job, not the table's.
        """
        kind = self.profile.kind(in_front)
        if kind == self.profile.kind(False):
            in_front = False  # same table: share the cache entry
        stamp = None
        if self.image is not None:
            try:
                stamp = os.stat(self.image).st_mtime_ns
            except OSError:
                raise InputError(f"aperture: image {self.image}: file not found") from None
        return _cached_table(self, in_front, stamp)

    def vignette_offsets(self, height: int, width: int, *, device=None) -> torch.Tensor | None:
        """``(2, H, W)`` displacement of the vignetting ellipse in kernel radii, or None.

        cat-eye: ``2 * cat_eye * rho'`` radii (CONVENTIONS); swirl: ``2 * swirl * rho'**2``; both
        radial and outward, scaled by the ellipse's radius along the radius for oval and
        anamorphic shapes (see :func:`vignetting_offsets`).
        """
        strength = self.cat_eye or self.swirl
        if strength <= 0:
            return None
        power = 2.0 if self.swirl > 0 else 1.0
        return vignetting_offsets(height, width, strength, start=self.start, power=power, ellipse=self.ellipse, device=device)

    def channel_focus_scale(
        self, *, focal_length_mm: float, focus_distance_m: float
    ) -> tuple[float, float, float] | None:
        """Multipliers of the focus distance S1 for R, G, B (axial chromatic aberration), or None.

        Model: red and blue have focal length ``f (1 + chromatic)``, green ``f``, the sensor stays
        where green is in focus at S1 (the secondary spectrum of an achromat: positive chromatic
        gives magenta fringes in front of focus, green ones behind). Thin lens: red and blue are in
        focus at ``1/S1' = 1/S1 - (1/f - 1/f')``. Past infinity the shift is capped at S1' = 10 S1.

        Args:
            focal_length_mm: f in mm.
            focus_distance_m: S1 in metres.

        Example:
            >>> scale = Aperture(chromatic=0.001).channel_focus_scale(focal_length_mm=50, focus_distance_m=2)
            >>> tuple(round(s, 4) for s in scale)  # red and blue in focus 4 % farther at 2 m
            (1.0416, 1.0, 1.0416)
        """
        if self.chromatic == 0:
            return None
        shift = (1000.0 / focal_length_mm) * (1.0 - 1.0 / (1.0 + self.chromatic))  # 1/f - 1/f', 1/m
        fraction = min(shift * focus_distance_m, 0.9)
        scale = 1.0 / (1.0 - fraction)
        return (scale, 1.0, scale)

    # -- descriptive -------------------------------------------------------------------------

    @property
    def ellipse(self) -> tuple[float, float, float]:
        """The circumscribed ellipse, in the convention of :attr:`SpanTable.ellipse`."""
        return shapes.circumscribed_ellipse(self.squeeze, self.aspect, self.angle)

    @property
    def stretch(self) -> torch.Tensor:
        """``(2, 2)`` float64 map from the round frame to the kernel frame."""
        return shapes.stretch_matrix(self.squeeze, self.aspect, self.angle)

    @property
    def spec(self) -> str:
        """Canonical ``--aperture`` text (profile not included).

        Example:
            >>> parse_aperture("anamorphic:blades=7,cat_eye=0.5").spec
            'anamorphic:blades=7,squeeze=2,cat_eye=0.5'
        """
        defaults = Aperture()
        items = []
        own = {target: key for key, target in _NAME_KEYS[self.name].items()}
        for f in fields(self):
            if f.name in ("name", "profile", "image"):
                continue
            value = getattr(self, f.name)
            if value == getattr(defaults, f.name) and f.name not in _NAME_DEFAULTS[self.name]:
                continue
            if f.name == "levels" and self.image is None:
                continue
            items.append(f"{own.get(f.name, f.name)}={value:g}")
        if self.image is not None:
            items.append(f"path={self.image}")
        return self.name + (":" + ",".join(items) if items else "")

    def area(self) -> float:
        """Analytic area of the flat shape (no profile, no vignetting) in radius^2.

        Raises:
            ValueError: for an image aperture (it has none).
        """
        if self.image is not None:
            raise ValueError("an image aperture has no analytic area")
        base = shapes.blade_area(self.blades, self.curvature) if self.blades else math.pi
        return base * abs(float(torch.linalg.det(self.stretch))) * (1.0 - self.obstruction**2)

    def intensity(self, x: torch.Tensor, y: torch.Tensor, *, in_front: bool = False) -> torch.Tensor:
        """Unnormalised kernel weight at kernel-frame points (units of the radius, y down).

        The same shape and profile the table holds (without vignetting and without the flip in
        front of focus), for references and plots: the table is exactly its row-run form.
        """
        x, y = x.double(), y.double()
        if self.image is not None:
            return _image_weights(self, x, y, in_front)
        total = torch.zeros_like(x)
        constraints = self._constraints()
        for scale, weight in self._copies(in_front):
            total = total + weight * shapes.constraint_inside(constraints.scaled(scale), self.stretch, x, y)
        return total

    def _constraints(self) -> shapes.Constraints:
        if self.blades:
            return shapes.blade_constraints(self.blades, self.rotation, self.curvature)
        return shapes.circle_constraints()

    def _copies(self, in_front: bool) -> list[tuple[float, float]]:
        edges, values = self.profile.bands(in_front)
        return shapes.staircase_copies(edges, values, self.obstruction)

    # Compatibility with the first sketch of this class.
    @property
    def cat_eye_strength(self) -> float:
        return self.cat_eye

    @property
    def cat_eye_start(self) -> float:
        return self.start


def _check_aperture(aperture: Aperture, source: str) -> None:
    """Ranges and combinations; raises InputError with one line."""
    if aperture.name not in APERTURE_NAMES:
        raise InputError(f"{source}: unknown aperture {aperture.name!r}; expected one of {', '.join(APERTURE_NAMES)}")
    if not isinstance(aperture.profile, Profile):
        raise InputError(f"{source}: profile: expected a Profile, got {type(aperture.profile).__name__}")
    for key in ("rotation", "curvature", "squeeze", "aspect", "angle", "cat_eye", "swirl", "start", "obstruction", "chromatic", "levels"):
        _parse_number(source, key, getattr(aperture, key), _RANGES)
    if aperture.blades != 0:
        _parse_number(source, "blades", aperture.blades, _RANGES)
    if aperture.squeeze != 1.0 and aperture.aspect != 1.0:
        raise InputError(f"{source}: squeeze (anamorphic) and aspect (oval) both stretch the shape; give one of them")
    if aperture.cat_eye > 0 and aperture.swirl > 0:
        raise InputError(f"{source}: cat_eye and swirl are both optical vignetting; give one of them")
    if aperture.start > 0 and aperture.cat_eye == 0 and aperture.swirl == 0:
        raise InputError(f"{source}: start: only means something with cat_eye or swirl")
    if aperture.blades == 0 and aperture.curvature != 0:
        raise InputError(f"{source}: curvature: needs blades (e.g. blades:n=7,curvature=0.3)")
    if aperture.blades == 0 and aperture.image is None and aperture.rotation != 0:
        raise InputError(f"{source}: rotation: needs blades or an image")
    if aperture.image is not None and aperture.blades:
        raise InputError(f"{source}: blades: an image aperture has no blades")
    if aperture.name == "image" and aperture.image is None:
        raise InputError(f"{source}: image: expected path=FILE (e.g. image:path=star.png)")


def make_aperture(
    name: str = "circle", *, profile: Profile | None = None, source: str = "--aperture",
    base_dir: str | Path | None = None, **keys,
) -> Aperture:
    """An :class:`Aperture` from a spec name and keys (the Python form of ``--aperture``).

    Args:
        name: one of :data:`APERTURE_NAMES`.
        profile: the radial profile (default flat).
        source: what error messages start with (the option or file).
        base_dir: folder that a relative image ``path`` is relative to (a look file's folder).
        **keys: the name's own keys and modifiers, see :func:`aperture_keys`.

    Raises:
        InputError: unknown name or key, a value out of range, a missing image, or a combination
            that makes no sense; one line starting with ``source``.

    Example:
        >>> make_aperture("blades", n=7, rotation=15, curvature=0.3).spec
        'blades:n=7,rotation=15,curvature=0.3'
    """
    if name not in APERTURE_NAMES:
        raise InputError(f"{source}: unknown aperture {name!r}; expected one of {', '.join(APERTURE_NAMES)}")
    allowed = aperture_keys(name)
    values: dict[str, object] = dict(_NAME_DEFAULTS[name])
    for key, value in keys.items():
        key = key.replace("-", "_")
        if key not in allowed:
            raise InputError(f"{source}: {name} takes the keys {', '.join(allowed)}; got {key!r}")
        if value is None:
            raise InputError(f"{source}: {key}: expected {key}=VALUE, got {key!r} alone")
        target = _NAME_KEYS[name].get(key, key)
        if key == "path":
            path = Path(str(value)).expanduser()
            if base_dir is not None and not path.is_absolute():
                path = Path(base_dir) / path
            if not path.is_file():
                raise InputError(f"{source}: path: image {path} not found")
            values[target] = str(path)
        else:
            values[target] = _parse_number(source, key, value, _RANGES)
    try:
        aperture = Aperture(name=name, profile=profile or Profile(), **values)
    except InputError as error:
        raise InputError(str(error).replace("aperture: ", f"{source}: ", 1)) from None
    if aperture.image is not None:
        aperture.table()  # read the picture now: a bad file fails before any output is opened
    return aperture


def parse_aperture(spec: str | None, *, profile: Profile | None = None, source: str = "--aperture") -> Aperture:
    """``NAME[:key=value,...]`` -> :class:`Aperture` (e.g. ``"circle"``, ``"cat-eye:strength=0.6"``).

    Raises:
        InputError: see :func:`make_aperture`.

    Example:
        >>> parse_aperture("oval:aspect=1.5,angle=30").ellipse
        (1.0, 0.6666666666666666, 330.0)
    """
    if spec is None:
        return Aperture(profile=profile or Profile())
    name, _, rest = spec.strip().partition(":")
    return make_aperture(name.strip(), profile=profile, source=source, **dict(_split_items(rest)))


# ---------------------------------------------------------------------------------------------
# Table construction

_TABLES: dict[tuple, SpanTable] = {}


def _cached_table(aperture: Aperture, in_front: bool, stamp) -> SpanTable:
    key = (aperture, in_front, stamp)
    if key not in _TABLES:
        if len(_TABLES) > 64:
            _TABLES.clear()
        _TABLES[key] = _build_table(aperture, in_front)
    return _TABLES[key]


def _build_table(aperture: Aperture, in_front: bool) -> SpanTable:
    if aperture.image is not None:
        return _image_table(aperture, in_front)
    y = row_centres(TABLE_ROWS)
    constraints = aperture._constraints()
    lefts, rights, weights = [], [], []
    for scale, weight in aperture._copies(in_front):
        left, right = shapes.constraint_rows(constraints.scaled(scale), aperture.stretch, y)
        lefts.append(left)
        rights.append(right)
        weights.append(weight)
    return table_from_runs(
        torch.stack(lefts, dim=1), torch.stack(rights, dim=1), torch.tensor(weights, dtype=torch.float64),
        ellipse=aperture.ellipse,
    )


def _image_grid(rows: int = TABLE_ROWS, cols: int = TABLE_COLS) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    y = row_centres(rows)
    edges = -1.0 + torch.arange(cols + 1, dtype=torch.float64) * (2.0 / cols)
    x = 0.5 * (edges[:-1] + edges[1:])
    return x[None, :].expand(rows, cols), y[:, None].expand(rows, cols), edges


@functools.lru_cache(maxsize=8)
def _image_mask(path: str, levels: int, stamp) -> tuple[shapes.ImageMask, tuple[float, ...]]:
    """The picture and the grey levels present in it after quantising to ``levels`` steps."""
    return shapes.load_image_mask(path, levels=levels, source="--aperture")


def _image_weights(aperture: Aperture, x: torch.Tensor, y: torch.Tensor, in_front: bool) -> torch.Tensor:
    """Picture weights at kernel-frame points, max 1: the picture (bilinear) quantised to the grey
    levels it holds, contours half-way between neighbouring levels; profile and obstruction applied."""
    mask, present = _image_mask(aperture.image, aperture.levels, os.stat(aperture.image).st_mtime_ns)
    inverse = torch.linalg.inv(aperture.stretch)
    px = inverse[0, 0] * x + inverse[0, 1] * y  # round frame
    py = inverse[1, 0] * x + inverse[1, 1] * y
    turn = shapes.screen_rotation(aperture.rotation)  # p = turn @ p_source
    sx = turn[0, 0] * px + turn[1, 0] * py
    sy = turn[0, 1] * px + turn[1, 1] * py
    sampled = shapes.sample_image(mask, sx, sy)
    weights = torch.zeros_like(sampled)
    previous = 0.0
    for level in present:
        weights = weights + (level - previous) * (sampled >= 0.5 * (previous + level))
        previous = level
    rho = torch.sqrt(px * px + py * py)
    edges, values = aperture.profile.bands(in_front)
    band = torch.bucketize(rho, torch.tensor(edges[1:-1], dtype=torch.float64), right=True)
    weights = weights * torch.tensor(values, dtype=torch.float64)[band]
    weights = torch.where((rho <= 1.0) & (rho >= aperture.obstruction), weights, torch.zeros_like(weights))
    peak = float(weights.max())
    if not peak > 0:
        raise InputError(f"--aperture: image {aperture.image}: nothing is left of the picture inside its circumscribed circle")
    return weights / peak


def _image_table(aperture: Aperture, in_front: bool) -> SpanTable:
    """One set of runs per distinct weight w_j (level set ``weight >= w_j``), weighted w_j - w_(j-1)."""
    x, y, edges = _image_grid()
    weights = _image_weights(aperture, x, y, in_front)
    distinct = torch.unique(torch.round(weights[weights > 0] * 1e9) / 1e9).tolist()
    lefts, rights, run_weights = [], [], []
    previous = 0.0
    for value in distinct:
        left, right = shapes.runs_from_mask(weights >= value - 1e-9, edges)
        lefts.append(left)
        rights.append(right)
        run_weights += [value - previous] * left.shape[1]
        previous = value
    total = len(run_weights)
    if total > MAX_IMAGE_RUNS:
        raise InputError(
            f"--aperture: image {aperture.image}: needs {total} runs per row (at most {MAX_IMAGE_RUNS}); "
            "use a simpler picture, fewer levels or a flat profile"
        )
    return table_from_runs(
        torch.cat(lefts, dim=1), torch.cat(rights, dim=1), torch.tensor(run_weights, dtype=torch.float64),
        ellipse=aperture.ellipse,
    )

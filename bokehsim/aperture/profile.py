"""Radial profiles of the kernel (flat, soap-bubble, soft, onion) and spherical aberration.

A profile is intensity as a function of the shape's own radius rho, drawn as a staircase of bands;
the span table holds it as nested, weighted copies of the shape (:func:`staircase_copies`). Soft and
soap-bubble bands come from the ray density of a defocused pupil with third-order spherical
aberration, so a lens with ``sa_sign`` draws one behind the focus plane and the other in front.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from ..errors import InputError
from .grammar import parse_number, split_items

PROFILE_NAMES = ("flat", "soap-bubble", "soft", "onion")

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
    edges = sa_band_edges(levels)
    behind = Profile(name, strength, levels, rings, sa_sign).kind(False)
    target = 1.0 + 2.0 * strength
    alpha = sa_alpha_for_ratio(target if behind == "soap-bubble" else 1.0 / target, tuple(edges))
    if sa_sign != 0 and in_front:
        alpha = max(-alpha, _SA_ALPHA_FLOOR)  # the defocus changes sign, the aberration does not
    return edges, sa_band_values(alpha, edges)


def _check_profile(profile: Profile, source: str) -> None:
    if profile.name not in PROFILE_NAMES:
        raise InputError(f"{source}: unknown profile {profile.name!r}; expected one of {', '.join(PROFILE_NAMES)}")
    for key in ("strength", "levels", "rings", "sa_sign"):
        value = getattr(profile, key)
        if value is not None:
            parse_number(source, key, value, _PROFILE_RANGES)
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
        values[key] = parse_number(source, key, value, _PROFILE_RANGES)
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
    return make_profile(name.strip(), source=source, **dict(split_items(rest)))


# ---------------------------------------------------------------------------------------------
# The staircase: spherical-aberration bands and their nested copies

#: Band edges of soft and soap-bubble profiles: a centre band out to CENTRE_EDGE, a rim band from
#: RIM_EDGE to 1, equal bands in between (all in units of the shape's own radius).
CENTRE_EDGE = 0.4
RIM_EDGE = 0.85


def sa_band_edges(levels: int) -> list[float]:
    """Edges ``0 = e_0 < ... < e_K = 1`` of the K bands of a soft or soap-bubble profile."""
    if levels == 2:
        return [0.0, RIM_EDGE, 1.0]
    inner = [CENTRE_EDGE + (RIM_EDGE - CENTRE_EDGE) * k / (levels - 2) for k in range(levels - 1)]
    return [0.0, *inner, 1.0]


def sa_band_values(alpha: float, edges: list[float]) -> list[float]:
    """Mean intensity of the spherical-aberration ray-density profile over each band (by area).

    Geometric optics of a defocused pupil with third-order spherical aberration: the ray through
    pupil radius rho (0..1) lands at ``t = rho (1 + alpha rho^2) / (1 + alpha)`` of the blur radius
    (defocus is linear in rho, spherical aberration cubic; alpha is their ratio at the pupil edge).
    The energy of a band ``t0 < t < t1`` is the pupil area ``rho(t1)^2 - rho(t0)^2`` it receives,
    so its mean intensity is that over ``t1^2 - t0^2``. ``alpha < 0`` crowds rays at the rim (a
    bright rim; the caustic reaches the rim at alpha = -1/3), ``alpha > 0`` spreads them out (a
    soft edge). In front of the focus plane the defocus changes sign, so alpha does too.
    """
    # Map blur radius back to pupil radius per band edge (monotone for alpha > -1/3).
    pupil = [_pupil_radius(alpha, e) for e in edges]
    values = []
    for inner, outer, e0, e1 in zip(pupil[:-1], pupil[1:], edges[:-1], edges[1:]):
        # Energy in the band = pupil area between the matching pupil radii; divide by blur area.
        energy = outer * outer - inner * inner
        values.append(energy / max(e1 * e1 - e0 * e0, 1e-300))
    return values


def _pupil_radius(alpha: float, blur_radius: float) -> float:
    """Invert ``t = rho (1 + alpha rho^2) / (1 + alpha)`` for rho in [0, 1] (bisection)."""
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if mid * (1.0 + alpha * mid * mid) / (1.0 + alpha) < blur_radius:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def sa_alpha_for_ratio(ratio: float, edges: list[float]) -> float:
    """The alpha whose rim-band / centre-band ratio (:func:`sa_band_values`) equals ``ratio``."""
    if abs(ratio - 1.0) < 1e-12:
        return 0.0

    def measured(alpha: float) -> float:
        values = sa_band_values(alpha, edges)
        return values[-1] / values[0]

    if ratio > 1.0:
        lo, hi = -1.0 / 3.0 + 1e-12, 0.0  # measured falls from +inf to 1 over this interval
    else:
        lo, hi = 0.0, 1.0
        while measured(hi) > ratio:
            hi *= 2.0
    for _ in range(100):  # measured() falls as alpha grows
        mid = 0.5 * (lo + hi)
        if measured(mid) > ratio:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def staircase_copies(
    edges: list[float], values: list[float], obstruction: float = 0.0
) -> list[tuple[float, float]]:
    """Nested scaled copies ``(scale, weight)`` whose weighted sum is the staircase profile.

    The profile is ``values[k]`` for ``edges[k] <= rho < edges[k + 1]``, zero inside the central
    ``obstruction`` (a mirror lens). ``sum_k w_k [rho < s_k]`` equals it when each band's outer edge
    carries ``values[k] - values[k + 1]`` and the obstruction ``-values[first]``.
    """
    bands = [
        (max(e0, obstruction), e1, v) for e0, e1, v in zip(edges[:-1], edges[1:], values) if e1 > obstruction + 1e-12
    ]
    copies: dict[float, float] = {}
    for k, (_, outer, value) in enumerate(bands):
        following = bands[k + 1][2] if k + 1 < len(bands) else 0.0
        copies[outer] = copies.get(outer, 0.0) + value - following
    inner = bands[0][0]
    if inner > 0:
        copies[inner] = copies.get(inner, 0.0) - bands[0][2]
    return [(scale, weight) for scale, weight in sorted(copies.items(), reverse=True) if abs(weight) > 1e-12]

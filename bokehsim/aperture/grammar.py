"""The spec grammar: aperture names, their keys, defaults and ranges, and the parsing of values.

One table of names and keys serves ``--aperture``, :func:`~bokehsim.aperture.make_aperture` and
look files, so the three always agree::

    NAME[:key=value,...]       e.g.  blades:n=7,rotation=15,curvature=0.3
                                     image:levels=4,path=star.png   (path= last: it takes the rest)
"""

from __future__ import annotations

import math

from ..errors import InputError

APERTURE_NAMES = ("circle", "blades", "oval", "anamorphic", "cat-eye", "swirl", "image", "mirror")

#: Keys every aperture name accepts (combinations), in the order they are listed to the user.
MODIFIER_KEYS = (
    "blades", "rotation", "curvature", "squeeze", "aspect", "angle", "cat_eye", "swirl", "start",
    "obstruction", "chromatic",
)
#: A name's own keys and the Aperture field each one sets.
NAME_KEYS: dict[str, dict[str, str]] = {
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
NAME_DEFAULTS: dict[str, dict[str, object]] = {
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
NAME_EXCLUDES: dict[str, tuple[str, ...]] = {
    "blades": ("blades",), "oval": ("squeeze",), "anamorphic": ("aspect", "angle"),
    "cat-eye": ("cat_eye", "swirl"), "swirl": ("cat_eye", "swirl"), "image": ("blades", "curvature"),
}
#: (kind, low, high) of every numeric key; None = unbounded.
RANGES: dict[str, tuple[type, float | None, float | None]] = {
    "blades": (int, 3, 16), "n": (int, 3, 16), "rotation": (float, None, None), "curvature": (float, 0.0, 1.0),
    "squeeze": (float, 1.0, 4.0), "aspect": (float, 1.0, 10.0), "angle": (float, None, None),
    "cat_eye": (float, 0.0, 0.95), "swirl": (float, 0.0, 0.95), "strength": (float, 0.0, 0.95),
    "start": (float, 0.0, 0.95), "obstruction": (float, 0.0, 0.9), "chromatic": (float, -0.005, 0.005),
    "levels": (int, 1, 16),
}


def aperture_keys(name: str) -> tuple[str, ...]:
    """Every key the aperture ``name`` accepts, its own first.

    Example:
        >>> aperture_keys("anamorphic")[:3]
        ('blades', 'rotation', 'curvature')
    """
    own = tuple(NAME_KEYS[name])
    return own + tuple(k for k in MODIFIER_KEYS if k not in NAME_EXCLUDES.get(name, ()))


def parse_number(source: str, key: str, value, ranges) -> float | int:
    """``value`` (a number or its text) checked against ``ranges[key]`` = (kind, low, high).

    Raises:
        InputError: not a finite number, not whole for an int key, or out of range; one line
            starting with ``source``.

    Example:
        >>> parse_number("--aperture", "n", "7", RANGES)
        7
    """
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


def split_items(rest: str) -> list[tuple[str, str]]:
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

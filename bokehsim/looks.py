"""Named lens looks: aperture presets stored as TOML files in ``looks/``.

A look is data, not code: the aperture shape, its radial profile and, optionally, the lens numbers
(focal length, f-number) the look was modelled on, used when the user gives none. The file format
(documented in docs/apertures.md)::

    description = "Modern 50 mm f/1.8: 7 rounded blades"   # one line, required
    focal_length_mm = 50                                    # optional suggestion
    f_number = 1.8                                          # optional suggestion

    [aperture]              # optional, default circle; the keys of --aperture
    name = "blades"
    n = 7
    curvature = 0.8

    [profile]               # optional, default flat; the keys of --profile
    name = "soft"
    strength = 0.3
    sa_sign = 1

A look is named by its file name without ``.toml`` (``--look modern-50mm``) or given as a path to
the user's own file; a relative image ``path`` in ``[aperture]`` is relative to that file.
"""

from __future__ import annotations

import math
import site
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from .aperture import Aperture, Profile, make_aperture, make_profile, parse_aperture, parse_profile
from .errors import InputError
from .io import read_toml

#: Top-level keys of a look file.
LOOK_KEYS = ("description", "focal_length_mm", "f_number", "aperture", "profile")


def looks_dirs() -> list[Path]:
    """Folders searched for shipped looks: the repository's ``looks/``, then the copies a wheel
    installs (``share/bokehsim/looks`` under the environment, or under the user base)."""
    return [
        Path(__file__).resolve().parent.parent / "looks",
        Path(sys.prefix) / "share" / "bokehsim" / "looks",
        Path(site.USER_BASE or "~/.local").expanduser() / "share" / "bokehsim" / "looks",
    ]


@dataclass(frozen=True)
class Look:
    """A lens look. Holds configuration only.

    Attributes:
        name: the file name without ``.toml``.
        description: one line for ``bokehsim looks``.
        aperture: the :class:`~bokehsim.aperture.Aperture` (shape, profile, vignetting, colour).
        focal_length_mm: suggested f in mm, or None.
        f_number: suggested N, or None.
        path: the file it came from.
    """

    name: str
    description: str
    aperture: Aperture
    focal_length_mm: float | None
    f_number: float | None
    path: Path


def shipped_look_paths() -> dict[str, Path]:
    """``{name: path}`` of every shipped look (the first folder that has a name wins)."""
    found: dict[str, Path] = {}
    for folder in looks_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def list_looks() -> list[Look]:
    """Every shipped look, sorted by name.

    Example:
        >>> "modern-50mm" in [look.name for look in list_looks()]
        True
    """
    return [read_look(path) for path in shipped_look_paths().values()]


def load_look(name_or_path: str | Path, *, source: str = "--look") -> Look:
    """A shipped look by name, or the user's own TOML file by path.

    Raises:
        InputError: unknown name, unreadable file, or a bad key or value in it (one line).

    Example:
        >>> load_look("anamorphic-2x").aperture.squeeze
        2.0
    """
    text = str(name_or_path)
    shipped = shipped_look_paths()
    if text in shipped:
        return read_look(shipped[text])
    path = Path(text).expanduser()
    if path.suffix.lower() == ".toml" or path.exists():
        if not path.is_file():
            raise InputError(f"{source}: look file {path} not found")
        return read_look(path)
    raise InputError(f"{source}: unknown look {text!r}; expected one of {', '.join(shipped) or 'none'} or a path to a .toml file")


def read_look(path: str | Path) -> Look:
    """Parse one look file.

    Raises:
        InputError: the file cannot be read or parsed, or holds an unknown key or a bad value; the
            one-line message starts with the path.
    """
    path = Path(path)
    data = read_toml(path, "look file")
    unknown = [key for key in data if key not in LOOK_KEYS]
    if unknown:
        raise InputError(f"{path}: unknown key {unknown[0]!r}; a look file takes {', '.join(LOOK_KEYS)}")
    description = data.get("description")
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        raise InputError(f"{path}: description: expected one line of text, got {description!r}")
    lens = {key: _positive(path, key, data.get(key)) for key in ("focal_length_mm", "f_number")}
    profile = _section_profile(path, data.get("profile", {}))
    aperture = _section_aperture(path, data.get("aperture", {}), profile)
    return Look(path.stem, description.strip(), aperture, lens["focal_length_mm"], lens["f_number"], path)


def _positive(path: Path, key: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"{path}: {key}: expected a positive number, got {value!r}")
    return float(value)


def _section(path: Path, section: str, table) -> tuple[str, dict]:
    if not isinstance(table, dict):
        raise InputError(f"{path}: [{section}]: expected a table of keys, got {table!r}")
    keys = dict(table)
    name = keys.pop("name", None)
    if name is not None and not isinstance(name, str):
        raise InputError(f"{path}: [{section}] name: expected a string, got {name!r}")
    return name, keys


def _section_profile(path: Path, table) -> Profile:
    name, keys = _section(path, "profile", table)
    return make_profile(name or "flat", source=f"{path}: [profile]", **keys)


def _section_aperture(path: Path, table, profile: Profile) -> Aperture:
    name, keys = _section(path, "aperture", table)
    return make_aperture(name or "circle", profile=profile, source=f"{path}: [aperture]", base_dir=path.parent, **keys)


def resolve_aperture(
    aperture_spec: str | None, profile_spec: str | None, look: str | None, *, sa_sign: int | None = None
) -> Aperture:
    """The aperture a render uses, from ``--aperture``, ``--profile``, ``--look`` and ``--sa-sign``.

    The look gives the defaults; ``--aperture`` replaces its shape (with vignetting and colour),
    ``--profile`` its profile, ``--sa-sign`` only the sign of spherical aberration (a look's soft or
    soap-bubble profile is swapped to match the new sign; an explicit ``--profile`` must agree).

    Raises:
        InputError: a bad spec, an unknown look, or a contradiction; one line naming the option.

    Example:
        >>> resolve_aperture("blades:n=5", "soft:strength=0.2", None).spec
        'blades:n=5'
        >>> resolve_aperture(None, None, "anamorphic-2x").squeeze
        2.0
    """
    base = load_look(look).aperture if look is not None else Aperture()
    profile = parse_profile(profile_spec) if profile_spec is not None else base.profile
    if sa_sign is not None:
        if sa_sign not in (-1, 0, 1):
            raise InputError(f"--sa-sign: expected +1, -1 or 0, got {sa_sign}")
        name = profile.name
        if profile_spec is None and name in ("soft", "soap-bubble") and sa_sign != 0:
            name = "soft" if sa_sign > 0 else "soap-bubble"  # the look's profile follows the new sign
        try:
            profile = replace(profile, name=name, sa_sign=sa_sign)
        except InputError as error:
            raise InputError(str(error).replace("profile: ", "--sa-sign: ", 1)) from None
    if aperture_spec is not None:
        return parse_aperture(aperture_spec, profile=profile)
    return replace(base, profile=profile)


def suggested_lens(look: str | None) -> tuple[float | None, float | None]:
    """``(focal_length_mm, f_number)`` a look suggests (None where it has none, or no look)."""
    if look is None:
        return None, None
    found = load_look(look)
    return found.focal_length_mm, found.f_number

"""Ground-truth scene files: TOML -> validated, frozen dataclasses. No Mitsuba here.

The scene frame *is* the camera frame, in metres: the camera (thin lens centre) sits at the origin
and looks along +z; x points to the right of the image, y up. So an object's z is its z-depth
(CONVENTIONS, "Depth"), which keeps scene files readable as "how far from the camera".

Every problem is one :class:`~bokehsim.errors.InputError` line naming the file and the key, e.g.
``scenes/gt/x.toml: objects[2].radius_m: expected a number > 0, got -1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..aperture import Aperture
from ..errors import InputError
from ..io import read_toml
from ..lens import sensor_width_mm
from .looks import parse_look

RGB = tuple[float, float, float]
Vec3 = tuple[float, float, float]

SHAPES = ("sphere", "box", "rectangle", "cylinder")
MATERIAL_TYPES = ("diffuse", "plastic", "metal", "glass")
TEXTURE_TYPES = ("checker", "stripes", "noise")
_REQUIRED = object()


@dataclass(frozen=True)
class Shot:
    """The camera and the render settings of a scene.

    Attributes:
        focal_length_mm: f. f_number: N. focus_distance_m: S1 (z-depth of the focus plane).
        sensor_width_mm: w_s. width_px, height_px: W x H of every output image.
        spp: samples per pixel of the pinhole and of the reference renders.
        look: the aperture look of the reference (``circle``, ``blades:n=7`` ...).
        max_depth: longest light path Mitsuba traces (glass needs several bounces).
        look_source: the look as the user wrote it (a spec or a look name such as ``modern-50mm``).
    """

    focal_length_mm: float
    f_number: float
    focus_distance_m: float
    sensor_width_mm: float
    width_px: int
    height_px: int
    spp: int
    look: Aperture
    max_depth: int = 8
    look_source: str = "circle"

    @property
    def fov_x_deg(self) -> float:
        """Horizontal field of view of the pinhole with its image plane at f: 2 atan(w_s / 2f)."""
        return math.degrees(2.0 * math.atan(self.sensor_width_mm / (2.0 * self.focal_length_mm)))


@dataclass(frozen=True)
class Texture:
    """A procedural texture baked into a bitmap (see :mod:`bokehsim.groundtruth.textures`)."""

    kind: str
    colors: tuple[RGB, RGB]
    tiles: tuple[float, float] = (8.0, 8.0)
    scale: float = 8.0
    seed: int = 0


@dataclass(frozen=True)
class Material:
    """A surface: ``color`` (linear reflectance in [0, 1]) or the name of a ``texture``.

    Glass: ``color`` tints its transmission, ``ior`` is its index, ``thin`` makes it a thin sheet
    (a drinking glass's wall: reflects and transmits without bending the rays).
    """

    kind: str
    color: RGB | None = None
    texture: str | None = None
    roughness: float = 0.1
    ior: float = 1.5
    thin: bool = False


@dataclass(frozen=True)
class SceneObject:
    """One shape; either a ``material`` name or an ``emission`` radiance (then it is a light)."""

    shape: str
    params: dict[str, Any]
    material: str | None = None
    emission: RGB | None = None


@dataclass(frozen=True)
class Scene:
    """A parsed scene file."""

    name: str
    path: Path
    title: str
    shot: Shot
    objects: tuple[SceneObject, ...]
    materials: dict[str, Material] = field(default_factory=dict)
    textures: dict[str, Texture] = field(default_factory=dict)
    environment: RGB | None = None
    description: str = ""


class _Table:
    """A TOML table that remembers where it is, so every error names the file and the key."""

    def __init__(self, path: Path, data: Any, where: str):
        self.path, self.where = path, where
        if not isinstance(data, dict):
            self.fail("", "a table", data)
        self.data = data
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str, expected: str, got: Any) -> None:
        key = self.key(name) if name else self.where
        raise InputError(f"{self.path}: {key}: expected {expected}, got {got!r}")

    def get(self, name: str, default: Any = _REQUIRED) -> Any:
        self.used.add(name)
        if name in self.data:
            return self.data[name]
        if default is _REQUIRED:
            raise InputError(f"{self.path}: {self.key(name)}: missing (required)")
        return default

    def number(self, name: str, default: Any = _REQUIRED, *, above: float | None = None,
               at_least: float | None = None, at_most: float | None = None) -> float:
        value = self.get(name, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (above is None or value > above) and (at_least is None or value >= at_least)
        ok = ok and (at_most is None or value <= at_most)
        if not ok:
            self.fail(name, _number_range(above, at_least, at_most), value)
        return float(value)

    def integer(self, name: str, default: Any = _REQUIRED, *, at_least: int = 1) -> int:
        value = self.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < at_least:
            self.fail(name, f"an integer >= {at_least}", value)
        return value

    def string(self, name: str, default: Any = _REQUIRED, *, choices: tuple[str, ...] | None = None) -> str:
        value = self.get(name, default)
        if not isinstance(value, str) or (choices and value not in choices):
            self.fail(name, "one of " + ", ".join(choices) if choices else "a string", value)
        return value

    def vector(self, name: str, length: int, default: Any = _REQUIRED, *, positive: bool = False) -> tuple:
        value = self.get(name, default)
        ok = isinstance(value, (list, tuple)) and len(value) == length and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
        )
        if not ok or (positive and min(value) <= 0):
            self.fail(name, f"a list of {length} {'positive ' if positive else ''}numbers", value)
        return tuple(float(v) for v in value)

    def color(self, name: str, default: Any = _REQUIRED, *, at_most: float | None = None) -> RGB:
        value = self.get(name, default)
        if value is None:
            return None
        ok = isinstance(value, (list, tuple)) and len(value) == 3 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < math.inf for v in value
        )
        if not ok or (at_most is not None and max(value) > at_most):
            limit = f" in [0, {at_most:g}]" if at_most is not None else " >= 0"
            self.fail(name, f"an RGB list of 3 numbers{limit}", value)
        return tuple(float(v) for v in value)

    def table(self, name: str, default: Any = _REQUIRED) -> "_Table":
        return _Table(self.path, self.get(name, default), self.key(name))

    def finish(self) -> None:
        """Refuse unknown keys: a typo must not silently fall back to a default."""
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            raise InputError(f"{self.path}: {self.key(unknown[0])}: unknown key (known here: {known})")


def _number_range(above, at_least, at_most) -> str:
    parts = [f"> {above:g}" if above is not None else "", f">= {at_least:g}" if at_least is not None else ""]
    parts.append(f"<= {at_most:g}" if at_most is not None else "")
    bounds = " and ".join(p for p in parts if p)
    return f"a number {bounds}" if bounds else "a number"


def load_scene(path: str | Path) -> Scene:
    """Read and validate a ground-truth scene file (format: ``docs/groundtruth.md``).

    Args:
        path: a ``.toml`` scene file.

    Returns:
        The :class:`Scene`; its ``name`` is the file stem (the output folder name).

    Raises:
        InputError: unreadable file, TOML syntax error, unknown or invalid key, reference to an
            undefined material or texture. One line naming the file and the key.
    """
    path = Path(path)
    data = read_toml(path, "scene file")
    root = _Table(path, data, "")
    title = root.string("title", path.stem)
    description = root.string("description", "")
    shot = _read_shot(root.table("shot"))
    texture_tables = root.table("textures", {})
    textures = {name: _read_texture(texture_tables.table(name)) for name in texture_tables.data}
    material_tables = root.table("materials", {})
    materials = {name: _read_material(material_tables.table(name), textures) for name in material_tables.data}
    environment = None
    if "environment" in data:
        env = root.table("environment")
        environment = env.color("radiance")
        env.finish()
    objects = root.get("objects")
    if not isinstance(objects, list) or not objects:
        root.fail("objects", "a non-empty array of tables ([[objects]])", objects)
    parsed = tuple(_read_object(_Table(path, item, f"objects[{i}]"), materials) for i, item in enumerate(objects))
    root.finish()
    return Scene(path.stem, path, title, shot, parsed, materials, textures, environment, description)


def _read_shot(t: _Table) -> Shot:
    focal_length_mm = t.number("focal_length_mm", above=0)
    focus_distance_m = t.number("focus_distance_m", above=0)
    if 1000.0 * focus_distance_m <= focal_length_mm:
        t.fail("focus_distance_m", f"more than the focal length ({focal_length_mm / 1000:g} m)", focus_distance_m)
    width_mm = sensor_width_mm(t.get("sensor", "full-frame"), source=f"{t.path}: {t.key('sensor')}")
    look_source = t.string("look", "circle")
    look = parse_look(look_source, name=f"{t.path}: {t.key('look')}")
    shot = Shot(
        focal_length_mm=focal_length_mm,
        f_number=t.number("f_number", above=0),
        focus_distance_m=focus_distance_m,
        sensor_width_mm=width_mm,
        width_px=t.integer("width_px", at_least=8),
        height_px=t.integer("height_px", at_least=8),
        spp=t.integer("spp", 256, at_least=2),
        look=look,
        max_depth=t.integer("max_depth", 8, at_least=1),
        look_source=look_source,
    )
    t.finish()
    return shot


def _read_texture(t: _Table) -> Texture:
    kind = t.string("type", choices=TEXTURE_TYPES)
    colors = t.get("colors")
    if not isinstance(colors, list) or len(colors) != 2:
        t.fail("colors", "a list of two RGB colours", colors)
    pair = _Table(t.path, {"0": colors[0], "1": colors[1]}, t.key("colors"))
    texture = Texture(
        kind=kind,
        colors=(pair.color("0", at_most=1.0), pair.color("1", at_most=1.0)),
        tiles=t.vector("tiles", 2, (8.0, 8.0)) if kind != "noise" else (1.0, 1.0),
        scale=t.number("scale", 8.0, above=0) if kind == "noise" else 8.0,
        seed=t.integer("seed", 0, at_least=0) if kind == "noise" else 0,
    )
    t.finish()
    return texture


def _read_material(t: _Table, textures: dict[str, Texture]) -> Material:
    kind = t.string("type", choices=MATERIAL_TYPES)
    texture = t.string("texture", None) if "texture" in t.data else None
    if texture is not None and texture not in textures:
        t.fail("texture", "the name of a [textures.NAME] table", texture)
    color = t.color("color", None if texture or kind == "glass" else _REQUIRED, at_most=1.0)
    if kind == "glass" and texture:
        t.fail("texture", "no texture for glass (color = [r, g, b] tints it)", texture)
    glass = kind == "glass"
    material = Material(
        kind=kind,
        color=color,
        texture=texture,
        roughness=t.number("roughness", 0.0 if glass else 0.1, at_least=0, at_most=1) if kind != "diffuse" else 0.0,
        ior=t.number("ior", 1.5, above=1) if glass else 1.5,
        thin=_boolean(t, "thin") if glass else False,
    )
    t.finish()
    return material


def _boolean(t: _Table, name: str) -> bool:
    value = t.get(name, False)
    if not isinstance(value, bool):
        t.fail(name, "true or false", value)
    return value


def _read_object(t: _Table, materials: dict[str, Material]) -> SceneObject:
    shape = t.string("shape", choices=SHAPES)
    if shape == "sphere":
        params = {"center_m": t.vector("center_m", 3), "radius_m": t.number("radius_m", above=0)}
    elif shape == "cylinder":
        params = {"start_m": t.vector("start_m", 3), "end_m": t.vector("end_m", 3),
                  "radius_m": t.number("radius_m", above=0)}
        if params["start_m"] == params["end_m"]:
            t.fail("end_m", "a point different from start_m", list(params["end_m"]))
    else:
        size_length = 3 if shape == "box" else 2
        params = {"center_m": t.vector("center_m", 3), "size_m": t.vector("size_m", size_length, positive=True),
                  "rotation_deg": t.vector("rotation_deg", 3, (0.0, 0.0, 0.0))}
    emission = t.color("emission", None)
    material = t.string("material", None) if "material" in t.data else None
    if (material is None) == (emission is None):
        t.fail("material", "exactly one of material or emission", material)
    if material is not None and material not in materials:
        t.fail("material", "the name of a [materials.NAME] table", material)
    t.finish()
    return SceneObject(shape, params, material, emission)

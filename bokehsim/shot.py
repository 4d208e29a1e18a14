"""A shot: the three numbers of the seed article (camera-subject distance, subject-background
distance, focal length) plus f-number, sensor, camera height and look, stored as a TOML file.

A shot file (``scenes/shots/*.toml``, documented in docs/shots.md)::

    description = "Head-and-shoulders portrait, 85 mm, background melted"   # one line, optional
    focal_length_mm = 85           # f
    f_number = 1.8                 # N
    camera_to_subject_m = 1.5      # S1: the lens is focused on the subject
    subject_to_background_m = 3.0  # the background's z-depth is S1 + this
    camera_height_m = 1.6          # optional
    sensor = "full-frame"          # optional: a preset name or a width in mm
    look = "petzval-85mm"          # optional: a look name (see `bokehsim looks`) or a path
    subject = "a woman in a grey coat"        # optional words for `bokehsim prompt`
    background = "bookshelves"                # optional
    lights = ["tungsten desk lamp"]           # optional: named light sources in the background
    others_m = [2.6]                          # optional: other people's distances from the camera

The focus report of a shot (:func:`shot_report`) and the two-plane solver (:func:`also_sharp`) live
in :mod:`bokehsim.shot_focus`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .errors import InputError
from .io import atomic_output, read_toml
from .lens import Lens, check_lens, sensor_width_mm

#: Keys of a shot file; the first four are required.
REQUIRED_KEYS = ("focal_length_mm", "f_number", "camera_to_subject_m", "subject_to_background_m")
OPTIONAL_KEYS = ("description", "camera_height_m", "sensor", "look", "subject", "background", "lights", "others_m")


@dataclass(frozen=True)
class Shot:
    """The geometry of one shot. Holds configuration only.

    Attributes:
        focal_length_mm: f, in mm.
        f_number: N.
        camera_to_subject_m: z-depth of the subject in metres; the lens is focused there (S1).
        subject_to_background_m: z-distance from the subject to the first important background
            layer, in metres (> 0).
        camera_height_m: height of the lens above the ground in metres, or None.
        sensor: a sensor preset name (``full-frame`` ...) or a width in mm as text.
        look: a look name or path (see :mod:`bokehsim.looks`), or None for a plain round aperture.
        description, subject, background: words for the prompt, or None.
        lights: named light sources in the background (``"neon signs"``), for the prompt.
        others_m: distances (m) from the camera of other people in the frame.
    """

    focal_length_mm: float
    f_number: float
    camera_to_subject_m: float
    subject_to_background_m: float
    camera_height_m: float | None = None
    sensor: str = "full-frame"
    look: str | None = None
    description: str | None = None
    subject: str | None = None
    background: str | None = None
    lights: tuple[str, ...] = field(default_factory=tuple)
    others_m: tuple[float, ...] = field(default_factory=tuple)

    @property
    def background_distance_m(self) -> float:
        """z-depth of the background: camera-subject plus subject-background distance."""
        return self.camera_to_subject_m + self.subject_to_background_m

    @property
    def sensor_width_mm(self) -> float:
        """w_s in mm."""
        return sensor_width_mm(self.sensor)

    @property
    def lens(self) -> Lens:
        """The thin lens of the shot, focused on the subject."""
        return Lens(self.focal_length_mm, self.f_number, self.camera_to_subject_m, self.sensor_width_mm)


def load_shot(path: str | Path) -> Shot:
    """Read and validate a shot file.

    Raises:
        InputError: unreadable file, unknown or missing key, or a bad value; one line naming the
            file and the key.

    Example:
        >>> load_shot("scenes/shots/headshot-85mm.toml").focal_length_mm
        85.0
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--shot: shot file {path} not found")
    data = read_toml(path, "shot file")
    unknown = [key for key in data if key not in REQUIRED_KEYS + OPTIONAL_KEYS]
    if unknown:
        raise InputError(f"{path}: unknown key {unknown[0]!r}; a shot file takes {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    for key in REQUIRED_KEYS:
        if key not in data:
            raise InputError(f"{path}: {key}: required, not found")
    numbers = {key: _number(path, key, data[key]) for key in REQUIRED_KEYS}
    height = _number(path, "camera_height_m", data["camera_height_m"], minimum=0.0) if "camera_height_m" in data else None
    words = {key: _text(path, key, data.get(key)) for key in ("description", "subject", "background", "look")}
    sensor = data.get("sensor", "full-frame")
    if isinstance(sensor, bool) or not isinstance(sensor, (str, int, float)):
        raise InputError(f"{path}: sensor: expected a preset name or a width in mm, got {sensor!r}")
    try:
        sensor_width_mm(str(sensor))
    except InputError as error:
        raise InputError(f"{path}: sensor: {str(error).split(': ', 1)[1]}") from None
    lights = tuple(_text(path, f"lights[{i}]", item) for i, item in enumerate(_list(path, "lights", data)))
    others = tuple(_number(path, f"others_m[{i}]", item) for i, item in enumerate(_list(path, "others_m", data)))
    shot = Shot(**numbers, camera_height_m=height, sensor=str(sensor), lights=lights, others_m=others, **words)
    check_shot(shot, source=str(path))
    return shot


def check_shot(shot: Shot, *, source: str = "shot") -> None:
    """Raise :class:`InputError` unless the lens of ``shot`` can focus on its subject."""
    try:
        check_lens(shot.focal_length_mm, shot.f_number, shot.camera_to_subject_m, shot.sensor_width_mm)
    except InputError as error:
        message = str(error).replace("--focus-distance", "camera_to_subject_m").replace("--focal-length", "focal_length_mm")
        raise InputError(f"{source}: {message.replace('--f-number', 'f_number')}") from None


def shot_toml(shot: Shot) -> str:
    """The shot as the text of a shot file (keys that are None or empty are left out).

    Example:
        >>> print(shot_toml(Shot(50, 2.0, 1.8, 4.0)).splitlines()[0])
        focal_length_mm = 50
    """
    lines = []
    for key, value in asdict(shot).items():
        if value is None or value == () or value == []:
            continue
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def write_shot(path: str | Path, shot: Shot) -> None:
    """Write ``shot`` as a shot file, atomically."""
    path = Path(path)
    try:
        with atomic_output(path) as tmp:
            tmp.write_text(shot_toml(shot), encoding="utf-8")
    except OSError as error:
        raise InputError(f"{path}: cannot write shot file ({error.strerror or error})") from None


def merge_shot(shot: Shot, **overrides) -> Shot:
    """``shot`` with every override that is not None applied (explicit options win over the file)."""
    return replace(shot, **{key: value for key, value in overrides.items() if value is not None})


def _toml_value(value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(path: Path, key: str, value, *, minimum: float | None = None) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or (value <= 0 if minimum is None else value < minimum):
        bound = "a number > 0" if minimum is None else f"a number >= {minimum:g}"
        raise InputError(f"{path}: {key}: expected {bound}, got {value!r}")
    return float(value)


def _text(path: Path, key: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
        raise InputError(f"{path}: {key}: expected one line of text, got {value!r}")
    return value.strip()


def _list(path: Path, key: str, data: dict) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise InputError(f"{path}: {key}: expected a list, got {value!r}")
    return value

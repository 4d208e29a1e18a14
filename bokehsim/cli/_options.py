"""Option bundles: the lens and depth options every image command takes, declared once.

A command asks for a bundle by name and receives one library object instead of fifteen loose
parameters::

    @app.command("render")
    @handle_input_errors
    @depth_options
    @lens_options
    def render_cli(image: Path, lens: LensSettings, depth: DepthSource, ...) -> None:
        ...

Each decorator removes its parameter (``lens`` or ``depth``) from the signature typer sees, adds the
bundle's options in its place, and builds the object from their values before the command runs.
So `render`, `focus`, `diagnose`, `fix` and `pull` share one definition of each option: its flag,
help, range and default.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer

from ..depth import DepthOptions
from ..jobs import DepthSource, LensSettings
from ..notebook import NoteSettings
from ..shot import load_shot
from ._aperture_opts import ApertureOpt, LookOpt, ProfileOpt, SaSignOpt
from ._app import FNumberOpt, FocalLengthOpt, SensorOpt
from ._depth_opts import (
    DEFAULTS, BackgroundAtOpt, BackgroundDistanceOpt, BaselineOpt, DepthKindOpt, DepthModelOpt, DepthOpt,
    EstimateDepthOpt, FarOpt, FocalLengthPxOpt, FocusAtOpt, NearOpt, OfflineOpt, RefineDepthOpt,
    ResizeDepthOpt, SubjectDistanceOpt,
)


class Device(str, Enum):
    """Where to render: ``auto`` is CUDA when present, else the CPU."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class BitDepth(str, Enum):
    """Bits per channel of a PNG/TIFF output."""

    eight = "8"
    sixteen = "16"


DeviceOpt = Annotated[Device, typer.Option("--device", help="auto (CUDA when present), cpu or cuda.", rich_help_panel="Device")]
FocusDistanceOpt = Annotated[
    float | None,
    typer.Option("--focus-distance", help="S1: distance the lens is focused at, in metres.", rich_help_panel="Focus"),
]
ShotOpt = Annotated[
    Path | None,
    typer.Option("--shot", help="A shot file (scenes/shots/*.toml): its focal length, f-number, sensor and look, focused at its subject; explicit options win.", rich_help_panel="Lens"),
]
NoteOpt = Annotated[
    Path | None,
    typer.Option("--note", help="Append a row (time, image, lens, distances, look, score, rating) to this notebook .csv.", rich_help_panel="Notebook"),
]
RatingOpt = Annotated[int | None, typer.Option("--rating", help="Your rating of the result, 1 to 5, for --note.", rich_help_panel="Notebook")]

#: One bundle = the keyword the command receives, what builds it, and its options as
#: ``{CLI parameter: (library field, Annotated option type, default)}``.
_LENS_FIELDS: dict[str, tuple[str, Any, Any]] = {
    "focal_length": ("focal_length_mm", FocalLengthOpt, None),
    "f_number": ("f_number", FNumberOpt, None),
    "focus_distance": ("focus_distance_m", FocusDistanceOpt, None),
    "sensor": ("sensor", SensorOpt, None),  # None: the shot's, else full-frame
    "look": ("look", LookOpt, None),
    "aperture": ("aperture", ApertureOpt, None),
    "profile": ("profile", ProfileOpt, None),
    "sa_sign": ("sa_sign", SaSignOpt, None),
    "shot": ("shot", ShotOpt, None),
}
_NOTE_FIELDS: dict[str, tuple[str, Any, Any]] = {
    "note": ("path", NoteOpt, None),
    "rating": ("rating", RatingOpt, None),
}
_DEPTH_FIELDS: dict[str, tuple[str, Any, Any]] = {
    "depth": ("path", DepthOpt, DEFAULTS["depth"]),
    "focus_at": ("focus_at", FocusAtOpt, DEFAULTS["focus_at"]),
    "depth_kind": ("kind", DepthKindOpt, DEFAULTS["depth_kind"]),
    "estimate_depth": ("estimate", EstimateDepthOpt, DEFAULTS["estimate_depth"]),
    "depth_model": ("model", DepthModelOpt, DEFAULTS["depth_model"]),
    "offline": ("offline", OfflineOpt, DEFAULTS["offline"]),
    "refine_depth": ("refine", RefineDepthOpt, DEFAULTS["refine_depth"]),
    "resize_depth": ("resize", ResizeDepthOpt, DEFAULTS["resize_depth"]),
    "near": ("near_m", NearOpt, DEFAULTS["near"]),
    "far": ("far_m", FarOpt, DEFAULTS["far"]),
    "subject_distance": ("subject_distance_m", SubjectDistanceOpt, DEFAULTS["subject_distance"]),
    "background_distance": ("background_distance_m", BackgroundDistanceOpt, DEFAULTS["background_distance"]),
    "background_at": ("background_at", BackgroundAtOpt, DEFAULTS["background_at"]),
    "baseline": ("baseline_m", BaselineOpt, DEFAULTS["baseline"]),
    "focal_length_px": ("focal_length_px", FocalLengthPxOpt, DEFAULTS["focal_length_px"]),
}


def _lens_from(values: dict[str, Any]) -> LensSettings:
    """The lens options, with a --shot's numbers wherever an option was not given."""
    shot_path = values.pop("shot")
    shot = load_shot(shot_path) if shot_path is not None else None
    if shot is not None:
        from_shot = {"focal_length_mm": shot.focal_length_mm, "f_number": shot.f_number, "sensor": shot.sensor, "look": shot.look}
        values.update({key: value for key, value in from_shot.items() if values[key] is None})
    values["sensor"] = values["sensor"] or "full-frame"
    return LensSettings(**values, shot=shot)


def _depth_from(values: dict[str, Any]) -> DepthSource:
    path = values.pop("path")
    values["kind"] = values["kind"].value if isinstance(values["kind"], Enum) else str(values["kind"])
    return DepthSource(path=path, options=DepthOptions(**values))


def _bundle(keyword: str, fields: dict[str, tuple[str, Any, Any]], build: Callable[[dict], Any]):
    """A decorator that swaps the command's ``keyword`` parameter for ``fields`` (see the module doc)."""

    def decorate(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)  # the Annotated options, not their text
        if keyword not in signature.parameters:
            raise TypeError(f"{command.__name__} has no parameter {keyword!r} for the option bundle")
        added = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
            for name, (_, annotation, default) in fields.items()
        ]
        kept = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for n, p in signature.parameters.items() if n != keyword]

        @wraps(command)
        def wrapper(*args, **kwargs):
            values = {field: kwargs.pop(name) for name, (field, _, _) in fields.items()}
            return command(*args, **{keyword: build(values)}, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=kept + added)
        # typer reads annotations through typing.get_type_hints, which sees __annotations__.
        wrapper.__annotations__ = {p.name: p.annotation for p in kept + added}
        return wrapper

    return decorate


lens_options = _bundle("lens", _LENS_FIELDS, _lens_from)
lens_options.__doc__ = "Give the command ``lens: LensSettings`` from -f, -N, --focus-distance, --sensor and the look options."
note_options = _bundle("note", _NOTE_FIELDS, lambda values: NoteSettings(**values))
note_options.__doc__ = "Give the command ``note: NoteSettings`` from --note and --rating (checked before any work)."
depth_options = _bundle("depth", _DEPTH_FIELDS, _depth_from)
depth_options.__doc__ = "Give the command ``depth: DepthSource`` from --depth, --focus-at and the depth calibration options."

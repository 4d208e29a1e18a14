"""Depth options shared by `render` and `focus`, defined once (spaCy's `_util.py` habit).

Use them as ``near: NearOpt = None`` and turn the values into :class:`~bokehsim.depth.DepthOptions`
with :func:`depth_options_from_cli`; the defaults to write at the parameters are in ``DEFAULTS``.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..depth import DepthOptions
from ..depth_estimation import DEFAULT_MODEL

_DEPTH = "Depth"
_CALIBRATION = "Depth calibration (relative maps)"


class DepthKind(str, Enum):
    """What the values of a depth file mean."""

    auto = "auto"
    metric = "metric"
    inverse = "inverse"
    depth = "depth"
    disparity = "disparity"


DepthOpt = Annotated[
    Path | None,
    typer.Option(
        "--depth", "-d",
        help="Depth map: float (.npy/.exr/TIFF) = z-depth in metres; 8/16-bit image = relative inverse depth (white = near).",
        rich_help_panel=_DEPTH,
    ),
]
DepthKindOpt = Annotated[
    DepthKind,
    typer.Option(
        "--depth-kind",
        help="auto (float = metric, 8/16-bit = inverse), metric (16-bit: mm), inverse (white = near), "
        "depth (white = far), disparity (px; z = f_px * B / d).",
        rich_help_panel=_DEPTH,
    ),
]
EstimateDepthOpt = Annotated[
    bool,
    typer.Option("--estimate-depth", help='Estimate depth from the image (Depth Anything V2; pip install "bokehsim\\[depth]").', rich_help_panel=_DEPTH),
]
DepthModelOpt = Annotated[
    str,
    typer.Option("--depth-model", help="Hugging Face model id or local directory for --estimate-depth.", rich_help_panel=_DEPTH),
]
OfflineOpt = Annotated[
    bool,
    typer.Option("--offline", help="Load the depth model from local files only (no network).", rich_help_panel=_DEPTH),
]
RefineDepthOpt = Annotated[
    bool | None,
    typer.Option(
        "--refine-depth/--no-refine-depth",
        help="Snap depth edges to the image's edges (default: on for estimated depth, off for files).",
        show_default=False,
        rich_help_panel=_DEPTH,
    ),
]
ResizeDepthOpt = Annotated[
    bool,
    typer.Option("--resize-depth", help="Resample a depth map of another size to the image (edge-preserving).", rich_help_panel=_DEPTH),
]
NearOpt = Annotated[
    float | None,
    typer.Option("--near", help="Metres at the map's nearest end (its 99.5th percentile of nearness).", rich_help_panel=_CALIBRATION),
]
FarOpt = Annotated[
    float | None,
    typer.Option("--far", help="Metres at the map's farthest end (0.5th percentile); 'inf' for a sky.", rich_help_panel=_CALIBRATION),
]
SubjectDistanceOpt = Annotated[
    float | None,
    typer.Option("--subject-distance", help="Camera-to-subject distance in metres; the subject is at --focus-at.", rich_help_panel=_CALIBRATION),
]
BackgroundDistanceOpt = Annotated[
    float | None,
    typer.Option(
        "--background-distance",
        help="Camera-to-background distance in metres (subject distance + subject-to-background distance).",
        rich_help_panel=_CALIBRATION,
    ),
]
BackgroundAtOpt = Annotated[
    str | None,
    typer.Option("--background-at", help="Where the background is, X,Y (default: the far mode of the depth histogram).", rich_help_panel=_CALIBRATION),
]
FocusAtOpt = Annotated[
    str | None,
    typer.Option("--focus-at", help="The subject, X,Y in pixels (640,360) or fractions (0.5,0.4): focus and --subject-distance.", rich_help_panel="Focus"),
]
BaselineOpt = Annotated[
    float | None,
    typer.Option("--baseline", help="Stereo baseline B in metres (--depth-kind disparity).", rich_help_panel=_CALIBRATION),
]
FocalLengthPxOpt = Annotated[
    float | None,
    typer.Option("--focal-length-px", help="Focal length in pixels of the disparity map (--depth-kind disparity).", rich_help_panel=_CALIBRATION),
]

#: The parameter defaults that go with the aliases above.
DEFAULTS = {
    "depth": None, "depth_kind": DepthKind.auto, "near": None, "far": None, "subject_distance": None,
    "background_distance": None, "background_at": None, "focus_at": None, "baseline": None,
    "focal_length_px": None, "estimate_depth": False, "depth_model": DEFAULT_MODEL, "offline": False,
    "refine_depth": None, "resize_depth": False,
}


def depth_options_from_cli(
    *,
    depth_kind: DepthKind | str = DepthKind.auto,
    near: float | None = None,
    far: float | None = None,
    subject_distance: float | None = None,
    background_distance: float | None = None,
    background_at: str | None = None,
    focus_at: str | None = None,
    baseline: float | None = None,
    focal_length_px: float | None = None,
    estimate_depth: bool = False,
    depth_model: str = DEFAULT_MODEL,
    offline: bool = False,
    refine_depth: bool | None = None,
    resize_depth: bool = False,
) -> DepthOptions:
    """The :class:`DepthOptions` for the CLI values (the depth path goes to ``load_depth`` itself).

    Example:
        >>> depth_options_from_cli(near=1.0, far=8.0).near_m
        1.0
    """
    return DepthOptions(
        kind=depth_kind.value if isinstance(depth_kind, DepthKind) else str(depth_kind),
        near_m=near,
        far_m=far,
        subject_distance_m=subject_distance,
        background_distance_m=background_distance,
        focus_at=focus_at,
        background_at=background_at,
        baseline_m=baseline,
        focal_length_px=focal_length_px,
        estimate=estimate_depth,
        model=depth_model,
        offline=offline,
        refine=refine_depth,
        resize=resize_depth,
    )

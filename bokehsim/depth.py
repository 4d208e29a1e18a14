"""Depth sources and their calibration to metric z-depth; focus picking (CONVENTIONS "Depth").

Every source ends as ``depth_m``: ``(H, W)`` float32 z-depth in metres at the image's size.

* ``metric``: float files as stored (16-bit files: millimetres, the Kinect/RealSense convention).
* ``inverse``: relative inverse depth, white = near (MiDaS, Depth Anything, ControlNet
  preprocessors, phone portrait exports; 8/16-bit files by default). Calibrated by an affine map in
  inverse depth: ``1/z = a * v + b``.
* ``depth``: relative depth, white = far (a normalised z-buffer). Calibrated by an affine map in
  depth: ``z = a * v + b``.
* ``disparity``: stereo disparity d in pixels; ``z = f_px * B / d`` with ``--baseline`` B (m) and
  ``--focal-length-px`` f_px, or, without them, calibrated like inverse depth (d is proportional to
  1/z, so zero disparity lies at infinity).

Two known distances (anchors) fix ``a`` and ``b``; one anchor fixes the scale while the far end of
the map (its 0.5th percentile of inverse depth) is put at infinity. Anchors are ``--near`` and
``--far`` (the map's 99.5th and 0.5th percentile of nearness), ``--subject-distance`` at
``--focus-at`` and ``--background-distance`` at ``--background-at`` or at the far mode of the
inverse-depth histogram. What a lens does with the depth under a point is :mod:`bokehsim.focus`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .depth_estimation import DEFAULT_MODEL, estimate_depth
from .depth_refine import ROBUST_PERCENTILES, refine_inverse_depth, resize_depth, robust_range
from .errors import InputError

KINDS = ("auto", "metric", "inverse", "depth", "disparity")
#: Robust extremes of a map (percent): what --near/--far mean and the depth range reported.
EXTREME_PERCENTILES = ROBUST_PERCENTILES
#: Inverse depth (1/m) below which a pixel counts as "at infinity": 10 km, where the CoC of any
#: real lens differs from infinity's by a fraction of a pixel.
INFINITY_INVERSE_DEPTH = 1e-4
#: Smallest depth a relative map in depth space may calibrate to (m).
MIN_DEPTH_M = 0.01
#: A relative map (or the gap between two anchors) spanning less than this fraction of its range
#: is "too flat": its calibration amplifies noise and quantisation.
FLAT_FRACTION = 0.05
#: Far-mode search: bins of the inverse-depth histogram and the share of pixels a mode must hold.
HISTOGRAM_BINS = 64
MODE_MIN_FRACTION = 0.05


#: A frame size no point lies outside of: checks the syntax of a point before the frame is known.
_ANY_FRAME_PX = 1 << 30


@dataclass(frozen=True)
class DepthOptions:
    """How to read and calibrate depth; every field mirrors a CLI option (``_depth_opts.py``).

    Distances are in metres, points are ``"X,Y"`` text (:func:`parse_point`); ``refine=None``
    refines estimated depth only.
    """

    kind: str = "auto"
    near_m: float | None = None
    far_m: float | None = None
    subject_distance_m: float | None = None
    background_distance_m: float | None = None
    focus_at: str | None = None
    background_at: str | None = None
    baseline_m: float | None = None
    focal_length_px: float | None = None
    estimate: bool = False
    model: str = DEFAULT_MODEL
    offline: bool = False
    refine: bool | None = None
    resize: bool = False


@dataclass
class DepthResult:
    """Calibrated depth: ``depth_m`` ``(H, W)`` float32 z-depth in metres; ``report`` (JSON-ready,
    for the sidecar) says how it was obtained; ``warnings`` are one-line messages for the user."""

    depth_m: torch.Tensor
    report: dict
    warnings: list[str]


@dataclass(frozen=True)
class _Anchor:
    label: str  # the option, as the user wrote it
    map_value: float  # v, the relative map's value there
    distance_m: float  # z
    at_px: tuple[int, int] | None = None


def load_depth(depth_path: Path | None, image_linear: torch.Tensor, options: DepthOptions) -> DepthResult:
    """Read (or estimate), check, resample, refine and calibrate depth for ``image_linear``.

    Args:
        depth_path: the depth file, or ``None`` with ``options.estimate``.
        image_linear: ``(C, H, W)`` linear-light image the depth belongs to.
        options: :class:`DepthOptions`.

    Returns:
        :class:`DepthResult` with ``depth_m`` ``(H, W)`` float32 metres on the image's device.

    Raises:
        InputError: a bad combination of options, a map of the wrong size (without ``resize``),
            non-finite values, non-positive metric depth, a constant relative map, missing or
            inverted calibration. One line, naming the file or the option.

    Example:
        >>> import tempfile, numpy as np
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     codes = np.array([[255, 255, 0, 0]] * 3, np.uint8)  # white = near
        ...     np.save(f"{folder}/d.npy", codes / 255)
        ...     options = DepthOptions(kind="inverse", near_m=2.0, far_m=8.0)
        ...     result = load_depth(Path(f"{folder}/d.npy"), torch.rand(3, 3, 4), options)
        >>> result.depth_m[0].tolist(), result.report["depth_range_m"]
        ([2.0, 2.0, 8.0, 8.0], [2.0, 8.0])
    """
    if image_linear.ndim != 3:
        raise InputError(f"image: expected (C, H, W), got shape {tuple(image_linear.shape)}")
    check_depth_options(options, depth_path)
    size = tuple(image_linear.shape[-2:])
    warnings: list[str] = []
    values, name, report = _read_source(depth_path, image_linear, options)
    _check_finite(values, name)
    values = _match_size(values, size, name, options.resize, report, warnings)
    values = values.to(image_linear.device)
    refine = options.refine if options.refine is not None else options.estimate
    report["refined"] = bool(refine)
    if report["kind"] == "metric" or (report["kind"] == "disparity" and options.baseline_m is not None):
        _check_no_anchors(options, name)
        depth_m = _metric_depth(values, report, options, name, warnings)
        if refine:
            depth_m = 1.0 / refine_inverse_depth(1.0 / depth_m, image_linear)
        report["calibration"] = {"space": "metric"}
        _report_metric_points(depth_m, options, report, warnings, name)
    else:
        space = "depth" if report["kind"] == "depth" else "inverse"
        if all(value is None for _, value in _distances(options)):  # before any slow refinement
            raise InputError(_missing_calibration_message(name, report))
        if refine:
            values = _refine_relative(values, image_linear, space)
        depth_m = _calibrate(values, space, report["kind"] == "disparity", options, report, warnings, name)
    report["depth_range_m"] = [_json_float(v) for v in robust_range(depth_m)]
    return DepthResult(depth_m=depth_m.float().contiguous(), report=report, warnings=warnings)


# --- options and sources -------------------------------------------------------------------------


def check_depth_options(options: DepthOptions, depth_path: Path | None) -> None:
    """Raise :class:`InputError` for options that contradict each other or the source, before any file is read."""
    for name, point in (("--focus-at", options.focus_at), ("--background-at", options.background_at)):
        if point is not None:  # the syntax now; whether it lies inside the frame once the frame is read
            parse_point(point, _ANY_FRAME_PX, _ANY_FRAME_PX, name=name)
    if options.kind not in KINDS:
        raise InputError(f"--depth-kind: expected one of {', '.join(KINDS)}, got {options.kind!r}")
    if depth_path is None and not options.estimate:
        raise InputError("--depth: no depth map given; pass --depth FILE or --estimate-depth")
    if depth_path is not None and options.estimate:
        raise InputError("--estimate-depth: a depth file was given too; pass either --depth FILE or --estimate-depth")
    if options.estimate and options.kind != "auto":
        raise InputError("--depth-kind: applies to a depth file; an estimate's kind comes from its model")
    for flag, value in _distances(options) + [("--baseline", options.baseline_m), ("--focal-length-px", options.focal_length_px)]:
        if value is not None and not (value > 0 and (math.isfinite(value) or flag == "--far")):
            raise InputError(f"{flag}: expected a positive distance, got {value}")
    _check_distance_order(options)
    if (options.baseline_m is None) != (options.focal_length_px is None):
        raise InputError("--baseline/--focal-length-px: disparity needs both (z = f_px * B / d), got only one")
    if options.baseline_m is not None and options.kind != "disparity":
        raise InputError("--baseline/--focal-length-px: only apply to --depth-kind disparity")


def _distances(options: DepthOptions) -> list[tuple[str, float | None]]:
    return [
        ("--near", options.near_m),
        ("--far", options.far_m),
        ("--subject-distance", options.subject_distance_m),
        ("--background-distance", options.background_distance_m),
    ]


def _check_distance_order(options: DepthOptions) -> None:
    if options.near_m is not None and options.far_m is not None and not options.near_m < options.far_m:
        raise InputError(f"--far: expected more than --near ({options.near_m} m), got {options.far_m} m")
    subject, background = options.subject_distance_m, options.background_distance_m
    if subject is not None and background is not None and not subject < background:
        raise InputError(
            f"--background-distance: expected more than --subject-distance ({subject} m), got {background} m"
        )
    given = [flag for flag, value in _distances(options) if value is not None]
    if len(given) > 2:
        raise InputError(f"{'/'.join(given)}: two distances fix the calibration; got {len(given)}, pass at most two")


def _read_source(depth_path, image_linear, options) -> tuple[torch.Tensor, str, dict]:
    """The raw map, the name used in messages, and the report's description of the source."""
    if depth_path is None:
        estimate = estimate_depth(image_linear, model=options.model, offline=options.offline)
        kind = "metric" if estimate.is_metric else "inverse"
        report = {"source": "estimated", "model": estimate.model, "kind": kind, "bit_depth": 32}
        return estimate.values.float(), "estimated depth", report
    from .io import read_depth_raw  # io reads every file format; imported here to keep this light

    raw = read_depth_raw(depth_path)
    kind = options.kind if options.kind != "auto" else ("metric" if raw.is_float else "inverse")
    report = {"source": "file", "path": str(raw.path), "kind": kind, "bit_depth": raw.bit_depth}
    values = raw.values.float()
    if not raw.is_float and kind in ("metric", "disparity"):
        values = (values * (2**raw.bit_depth - 1)).round()  # back to the stored integer code values
    if not raw.is_float and kind == "metric":
        if raw.bit_depth < 16:
            raise InputError(f"{raw.path}: an 8-bit file cannot hold metric depth; pass --depth-kind inverse or depth")
        values = values / 1000.0  # 16-bit metric depth is stored in millimetres
        report["units"] = "mm"
    return values, str(raw.path), report


def _check_finite(values: torch.Tensor, name: str) -> None:
    _report_bad(values, ~torch.isfinite(values), name, "NaN or infinite values; expected finite depth")


def _report_bad(values: torch.Tensor, bad: torch.Tensor, name: str, what: str) -> None:
    """Raise naming how many pixels are bad, and the first one (row-major) with its value."""
    if bool(bad.any()):
        y, x = (int(i) for i in torch.nonzero(bad)[0])
        raise InputError(f"{name}: {int(bad.sum())} pixels have {what} (first at x={x}, y={y}, value {float(values[y, x]):g})")


# --- size -----------------------------------------------------------------------------------------


def _match_size(values, size, name, resize, report, warnings) -> torch.Tensor:
    if tuple(values.shape) == tuple(size):
        return values
    (h, w), (H, W) = values.shape, size
    if not resize:
        raise InputError(
            f"{name}: depth map is {w}x{h} but the image is {W}x{H}; pass --resize-depth to resample it (edge-preserving)"
        )
    if abs((w / h) / (W / H) - 1.0) > 0.01:
        warnings.append(f"{name}: aspect ratio {w}x{h} differs from the image's {W}x{H}; the depth map is stretched to fit")
    report["resized_from"] = [w, h]
    return resize_depth(values, size)


# --- metric sources ---------------------------------------------------------------------------------


def _metric_depth(values, report, options, name, warnings) -> torch.Tensor:
    if report["source"] == "estimated":
        # A metric model's output is not the user's input: clamp its rare zeros, and say so.
        share = float((values < MIN_DEPTH_M).float().mean())
        if share > 0:
            warnings.append(
                f"{name}: the model put {share:.1%} of the pixels nearer than {MIN_DEPTH_M:g} m; they are placed there"
            )
        return values.clamp_min(MIN_DEPTH_M)
    if report["kind"] == "disparity":
        _report_bad(values, values <= 0, name, "disparity <= 0 (no stereo match, or at infinity); expected > 0 px")
        report["baseline_m"], report["focal_length_px"] = options.baseline_m, options.focal_length_px
        return disparity_to_depth_m(values, baseline_m=options.baseline_m, focal_length_px=options.focal_length_px)
    _report_bad(
        values, values <= 0, name,
        "depth <= 0 m; metric depth must be positive (a relative map? pass --depth-kind inverse or depth)",
    )
    return values


def disparity_to_depth_m(disparity_px: torch.Tensor, *, baseline_m: float, focal_length_px: float) -> torch.Tensor:
    """z = f_px * B / d: z-depth in metres from stereo disparity d (px, > 0).

    Example:
        >>> disparity_to_depth_m(torch.tensor([10.0, 40.0]), baseline_m=0.1, focal_length_px=1000).tolist()
        [10.0, 2.5]
    """
    return focal_length_px * baseline_m / disparity_px


def _check_no_anchors(options: DepthOptions, name: str) -> None:
    for flag, value in _distances(options):
        if value is not None:
            raise InputError(
                f"{flag}: {name} is already metric depth in metres; distances calibrate relative maps "
                "(pass --depth-kind inverse or depth to treat it as one)"
            )


def _report_metric_points(depth_m, options, report, warnings, name) -> None:
    height, width = depth_m.shape
    if options.focus_at is not None:
        x, y = parse_point(options.focus_at, width, height, name="--focus-at")
        report["subject"] = {"at_px": [x, y], "depth_m": _json_float(depth_at(depth_m, x, y))}
    if options.background_at is not None:
        x, y = parse_point(options.background_at, width, height, name="--background-at")
        report["background"] = {"at_px": [x, y], "depth_m": _json_float(depth_at(depth_m, x, y)), "picked": "--background-at"}
    else:
        inverse, share = far_mode(1.0 / depth_m)
        picked = f"far mode of the inverse-depth histogram ({share:.0%} of pixels)"
        report["background"] = {"depth_m": _json_float(1.0 / inverse), "picked": picked}
    low, high = robust_range(depth_m)
    if not high > low:
        warnings.append(f"{name}: the depth map is constant ({low:g} m); the whole image gets the same blur")


# --- relative maps: refinement and calibration -----------------------------------------------------


def _refine_relative(values: torch.Tensor, image_linear: torch.Tensor, space: str) -> torch.Tensor:
    # The refinement wants a map that grows towards the camera; it is affine-equivariant, so a
    # relative map needs no calibration first.
    sign = -1.0 if space == "depth" else 1.0
    return sign * refine_inverse_depth(sign * values, image_linear)


def _calibrate(values, space, zero_at_infinity, options, report, warnings, name) -> torch.Tensor:
    """Fit t = a v + b (t = 1/z in inverse space, z in depth space) to the anchors; z in metres."""
    nearness = values if space == "inverse" else -values
    low, high = robust_range(nearness)
    _check_spread(nearness, low, high, report, warnings, name)
    anchors = _anchors(values, nearness, (low, high), space, options, report, warnings, name)
    to_v = (lambda n: n) if space == "inverse" else (lambda n: -n)
    far_end = 0.0 if zero_at_infinity else to_v(low)
    scale, offset, rule = _fit(anchors, space, far_end, name)
    _warn_close_anchors(anchors, high - low, warnings, name)
    t = scale * values + offset
    depth_m = _depth_from_t(t, space, options, report, warnings, name)
    report["calibration"] = {
        "space": "inverse_depth" if space == "inverse" else "depth",
        "formula": "1/z = scale * v + offset" if space == "inverse" else "z = scale * v + offset",
        "scale": scale,
        "offset": offset,
        "rule": rule,
        "anchors": [_anchor_report(a) for a in anchors],
        "map_range": [_json_float(to_v(low)), _json_float(to_v(high))],
        "map_range_percentiles": list(EXTREME_PERCENTILES),
    }
    _report_points(depth_m, anchors, options, report)
    return depth_m


def _check_spread(nearness, low, high, report, warnings, name) -> None:
    if not high > low:
        raise InputError(
            f"{name}: the depth map is constant (value {low:g} on {EXTREME_PERCENTILES[1] - EXTREME_PERCENTILES[0]:g}% "
            "of pixels); it holds no depth to calibrate"
        )
    # An 8/16-bit relative map has a known full scale (1.0); a float map's scale is its own.
    is_coded = report["source"] == "file" and report["bit_depth"] < 32 and report["kind"] in ("inverse", "depth")
    full_scale = 1.0 if is_coded else max(abs(low), abs(high))
    if (high - low) < FLAT_FRACTION * full_scale:
        warnings.append(
            f"{name}: the depth map is nearly flat (its range spans {(high - low) / full_scale:.1%} of "
            f"{'full scale' if full_scale == 1.0 else 'its values'}); calibrated depth will be coarse and noisy"
        )


def _anchors(values, nearness, extremes, space, options, report, warnings, name) -> list[_Anchor]:
    height, width = values.shape
    low, high = extremes
    to_v = (lambda n: n) if space == "inverse" else (lambda n: -n)
    anchors = []
    if options.near_m is not None:
        anchors.append(_Anchor("--near", to_v(high), options.near_m))
    if options.far_m is not None:
        if space == "depth" and not math.isfinite(options.far_m):
            raise InputError(f"--far: a depth map (white = far) cannot reach infinity; expected a distance, got {options.far_m}")
        anchors.append(_Anchor("--far", to_v(low), options.far_m))
    if options.subject_distance_m is not None:
        if options.focus_at is None:
            warnings.append("--subject-distance: no --focus-at given; the subject is taken at the centre of the frame")
        x, y = parse_point(options.focus_at or "0.5,0.5", width, height, name="--focus-at")
        anchors.append(_Anchor("--subject-distance", depth_at(values, x, y), options.subject_distance_m, (x, y)))
    if options.background_at is not None and options.background_distance_m is None:
        raise InputError("--background-at: picks where --background-distance applies; pass --background-distance M")
    if options.background_distance_m is not None:
        anchors.append(_background_anchor(values, nearness, to_v, options))
    return anchors


def _background_anchor(values, nearness, to_v, options) -> _Anchor:
    height, width = values.shape
    if options.background_at is not None:
        x, y = parse_point(options.background_at, width, height, name="--background-at")
        return _Anchor("--background-distance", depth_at(values, x, y), options.background_distance_m, (x, y))
    mode, _ = far_mode(nearness)
    return _Anchor("--background-distance", to_v(mode), options.background_distance_m)


def _fit(anchors: list[_Anchor], space: str, far_end: float, name: str) -> tuple[float, float, str]:
    """Scale and offset of t = scale * v + offset through the anchors."""
    t = [1.0 / a.distance_m if space == "inverse" else a.distance_m for a in anchors]
    if len(anchors) == 2:
        (first, second), (t1, t2) = anchors, t
        if first.map_value == second.map_value:
            raise InputError(
                f"{name}: {first.label} and {second.label} fall on the same map value ({first.map_value:g}); "
                "pick points at different depths (--focus-at, --background-at)"
            )
        scale = (t1 - t2) / (first.map_value - second.map_value)
        offset, rule = t1 - scale * first.map_value, "two anchors"
    else:
        (anchor,), (t1,) = anchors, t
        if space == "depth":
            raise InputError(
                f"{name}: a depth map (white = far) needs two distances to fix scale and offset; "
                f"add --near/--far or --background-distance to {anchor.label}"
            )
        if not anchor.map_value > far_end:
            raise InputError(
                f"{name}: {anchor.label} lies at the far end of the map, which a single distance puts at "
                "infinity; add a second distance (--near, --subject-distance or --background-distance)"
            )
        scale = t1 / (anchor.map_value - far_end)
        offset, rule = -scale * far_end, f"one anchor; map value {far_end:g} (far end) at infinity"
    if not scale > 0:
        raise InputError(_inverted_message(anchors, name))
    return scale, offset, rule


def _inverted_message(anchors: list[_Anchor], name: str) -> str:
    nearer, farther = sorted(anchors, key=lambda a: a.distance_m)
    return (
        f"{name}: inverted calibration: {nearer.label} ({nearer.distance_m:g} m) is nearer than "
        f"{farther.label} ({farther.distance_m:g} m) but the map puts it farther; is it white = far "
        "(try --depth-kind depth), or are --focus-at/--background-at on the wrong objects?"
    )


def _warn_close_anchors(anchors, map_range, warnings, name) -> None:
    if len(anchors) == 2 and abs(anchors[0].map_value - anchors[1].map_value) < FLAT_FRACTION * map_range:
        gap = abs(anchors[0].map_value - anchors[1].map_value) / map_range
        warnings.append(
            f"{name}: the map barely separates {anchors[0].label} and {anchors[1].label} ({gap:.1%} of its "
            "range, too flat there); small errors in the map change the calibration a lot"
        )


def _depth_from_t(t, space, options, report, warnings, name) -> torch.Tensor:
    if space == "inverse":
        beyond = t < -1e-6 * t.abs().max()  # past infinity; the far end itself (t = 0) is not
        depth_m = 1.0 / t.clamp_min(INFINITY_INVERSE_DEPTH)
        what = f"beyond infinity; they are placed at {1 / INFINITY_INVERSE_DEPTH:g} m"
    else:
        beyond = t < MIN_DEPTH_M
        depth_m = t.clamp_min(MIN_DEPTH_M)
        what = f"at or in front of the camera; they are placed at {MIN_DEPTH_M:g} m"
    share = float(beyond.float().mean())
    report["clamped_fraction"] = share
    if share > 0.01:
        warnings.append(f"{name}: this calibration puts {share:.1%} of the map {what}; check the distances")
    # --near/--far name the map's extremes: the few pixels past the percentiles stay at them.
    if options.near_m is not None:
        depth_m = depth_m.clamp_min(options.near_m)
    if options.far_m is not None and math.isfinite(options.far_m):
        depth_m = depth_m.clamp_max(options.far_m)
    return depth_m


def _report_points(depth_m, anchors, options, report) -> None:
    height, width = depth_m.shape
    if options.focus_at is not None or options.subject_distance_m is not None:
        x, y = parse_point(options.focus_at or "0.5,0.5", width, height, name="--focus-at")
        report["subject"] = {"at_px": [x, y], "depth_m": _json_float(depth_at(depth_m, x, y))}
    background = [a for a in anchors if a.label == "--background-distance"]
    if background and background[0].at_px is not None:
        x, y = background[0].at_px
        report["background"] = {"at_px": [x, y], "depth_m": _json_float(depth_at(depth_m, x, y)), "picked": "--background-at"}
    else:
        inverse, share = far_mode(1.0 / depth_m)
        picked = f"far mode of the inverse-depth histogram ({share:.0%} of pixels)"
        report["background"] = {"depth_m": _json_float(1.0 / inverse), "picked": picked}


def _anchor_report(anchor: _Anchor) -> dict:
    entry = {"option": anchor.label, "map_value": anchor.map_value, "distance_m": _json_float(anchor.distance_m)}
    if anchor.at_px is not None:
        entry["at_px"] = list(anchor.at_px)
    return entry


def _missing_calibration_message(name: str, report: dict) -> str:
    bits = report["bit_depth"]
    if report["source"] == "estimated":
        what = "estimated depth is relative (white = near)"
    else:
        article, stored = ("an", "8-bit") if bits == 8 else ("a", f"{bits}-bit" if bits < 32 else "float")
        what = f"{article} {stored} {report['kind']} map is relative"
    disparity = ", or --baseline B --focal-length-px F" if report["kind"] == "disparity" else ""
    return (
        f"{name}: {what} and needs distances: pass --near M --far M (the map's nearest and farthest "
        f"points), or --subject-distance M (with --focus-at X,Y) and optionally --background-distance M{disparity}"
    )


# --- points and statistics -------------------------------------------------------------------------


def parse_point(text: str, width: int, height: int, *, name: str = "--focus-at") -> tuple[int, int]:
    """A point of the frame from ``"X,Y"``: pixels (``640,360``) or fractions (``0.5,0.4``).

    Both values in [0, 1], written with a decimal point, are fractions of the frame (0 = left/top
    pixel, 1 = right/bottom pixel); otherwise they are pixel coordinates (x right, y down).

    Args:
        text: the user's text.
        width, height: the frame, in pixels.
        name: the option, for messages.

    Returns:
        ``(x, y)`` integer pixel coordinates inside the frame.

    Raises:
        InputError: unparsable text, a fraction mixed with a pixel coordinate, or a point outside.

    Example:
        >>> parse_point("640,360", 1280, 720), parse_point("0.5,1.0", 1281, 721)
        ((640, 360), (640, 720))
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        x, y = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"{name}: expected X,Y as pixels (640,360) or fractions of the frame (0.5,0.4), got {text!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputError(f"{name}: expected finite coordinates, got {text!r}")
    is_fraction = [("." in p or "e" in p.lower()) and 0.0 <= v <= 1.0 for p, v in zip(parts, (x, y))]
    if any(is_fraction) and not all(0.0 <= v <= 1.0 for v in (x, y)):
        raise InputError(f"{name}: {text!r} mixes a fraction with a pixel coordinate; use 0.5,0.4 or 640,360")
    if any(is_fraction):
        return round(x * (width - 1)), round(y * (height - 1))
    px, py = math.floor(x + 0.5), math.floor(y + 0.5)
    if not (0 <= px < width and 0 <= py < height):
        raise InputError(
            f"{name}: point ({x:g}, {y:g}) is outside the {width}x{height} frame; expected x in 0..{width - 1} "
            f"and y in 0..{height - 1}, or fractions such as 0.5,0.4"
        )
    return px, py


def default_patch_px(height: int, width: int) -> int:
    """Side of the patch :func:`depth_at` takes the median of: 1% of the short side, odd, >= 5.

    Example:
        >>> default_patch_px(1080, 1920), default_patch_px(256, 256)
        (11, 5)
    """
    side = max(5, round(min(height, width) / 100))
    return side if side % 2 else side + 1


def depth_at(depth_m: torch.Tensor, x: int, y: int, patch: int | None = None) -> float:
    """Median of ``depth_m`` over a ``patch`` x ``patch`` square centred on pixel (x, y).

    The median ignores a few stray pixels (an edge, a speck) under the point. Works for any map
    (depth, inverse depth, relative values): the median commutes with monotonic maps.

    Args:
        depth_m: ``(H, W)`` map.
        x, y: pixel coordinates (see :func:`parse_point`).
        patch: side in pixels (clipped at the border); default :func:`default_patch_px`.

    Example:
        >>> depth_at(torch.arange(25.0).reshape(5, 5), 2, 2, patch=3)
        12.0
    """
    height, width = depth_m.shape
    half = (patch or default_patch_px(height, width)) // 2
    window = depth_m[max(0, y - half) : y + half + 1, max(0, x - half) : x + half + 1]
    return float(window.flatten().median())


def far_mode(nearness: torch.Tensor) -> tuple[float, float]:
    """The farthest well-populated mode of a map that grows towards the camera (inverse depth).

    A histogram of ``HISTOGRAM_BINS`` bins over the robust range is smoothed; among its local
    maxima holding at least ``MODE_MIN_FRACTION`` of the pixels, the farthest is the background.
    (Without one, the most populated bin is taken.)

    Returns:
        ``(value, share)``: the median of the pixels in the mode's bins, and the share of pixels
        there.
    """
    low, high = robust_range(nearness)
    flat = nearness.flatten().double()
    if not high > low:
        return float(flat.median()), 1.0
    bins = ((flat - low) / (high - low) * HISTOGRAM_BINS).floor().clamp(0, HISTOGRAM_BINS - 1).long()
    counts = torch.bincount(bins, minlength=HISTOGRAM_BINS).double()
    smooth = F.conv1d(F.pad(counts[None, None], (1, 1)), counts.new_tensor([[[1.0, 2.0, 1.0]]]))[0, 0] / 4
    padded = F.pad(smooth, (1, 1), value=-1.0)
    is_peak = (smooth >= padded[:-2]) & (smooth >= padded[2:]) & (smooth >= MODE_MIN_FRACTION * flat.numel())
    peaks = torch.nonzero(is_peak).flatten()
    peak = int(peaks[0]) if peaks.numel() else int(smooth.argmax())
    members = (bins - peak).abs() <= 1
    return float(flat[members].median()), float(members.double().mean())


def _json_float(value: float) -> float | str:
    """A float for JSON: rounded to micrometres; infinity as the string "inf" (JSON has none)."""
    value = float(value)
    return round(value, 6) if math.isfinite(value) else ("inf" if value > 0 else "-inf")

"""Focus: the depth under a point and the depth of field a lens has when focused there.

What ``bokehsim focus`` prints before a render: the z-depth under the chosen point (the
camera-subject distance), the robust depth range of the picture, and, with f and N, the hyperfocal
distance, the near and far limits of acceptable sharpness and the signed CoC diameters at the ends
of the range (how much the background will blur).
"""

from __future__ import annotations

import torch

from .depth import _json_float, depth_at
from .depth_refine import robust_range
from .lens import check_lens, coc_px, depth_of_field_limits_m, hyperfocal_distance_m


def focus_report(
    depth_m: torch.Tensor,
    x: int,
    y: int,
    *,
    focal_length_mm: float | None = None,
    f_number: float | None = None,
    sensor_width_mm: float = 36.0,
    focus_distance_m: float | None = None,
) -> dict:
    """What a photographer wants to know before a render: the depth under a point and the lens's
    depth of field when focused there (or at ``focus_distance_m``).

    Args:
        depth_m: ``(H, W)`` z-depth in metres.
        x, y: the point, in pixels.
        focal_length_mm, f_number: f and N; without them only the depths are reported.
        sensor_width_mm: w_s.
        focus_distance_m: S1; default the depth under the point.

    Returns:
        A JSON-ready dict: ``point_px``, ``depth_m``, ``depth_range_m``, and with a lens
        ``focus_distance_m``, ``hyperfocal_m``, ``dof_near_m``, ``dof_far_m`` ("inf" past the
        hyperfocal distance) and ``coc_px_at_range`` (signed CoC diameters at the range's ends).
    """
    depth_here = depth_at(depth_m, x, y)
    low, high = robust_range(depth_m)
    report = {"point_px": [x, y], "depth_m": _json_float(depth_here), "depth_range_m": [_json_float(low), _json_float(high)]}
    if focal_length_mm is None or f_number is None:
        return report
    lens = {"focal_length_mm": focal_length_mm, "f_number": f_number, "sensor_width_mm": sensor_width_mm}
    focus_m = depth_here if focus_distance_m is None else focus_distance_m
    check_lens(focal_length_mm, f_number, focus_m, sensor_width_mm)
    near_m, far_m = depth_of_field_limits_m(focus_distance_m=focus_m, **lens)
    ends_m = torch.tensor([low, high], dtype=torch.float64)
    ends = coc_px(ends_m, focus_distance_m=focus_m, image_width_px=depth_m.shape[1], **lens)
    report.update(
        focus_distance_m=_json_float(focus_m),
        hyperfocal_m=_json_float(hyperfocal_distance_m(**lens)),
        dof_near_m=_json_float(near_m),
        dof_far_m=_json_float(far_m),
        coc_px_at_range=[_json_float(c) for c in ends.tolist()],
    )
    return report

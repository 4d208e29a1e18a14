"""A focus pull or aperture ramp from one RGB-D frame: the lens of every frame, and the frames.

Every frame is a full render of the same image and the same (calibrated once) depth map with that
frame's lens, so a frame of a pull is exactly the picture ``render`` gives for its lens, and a
region whose CoC does not change between frames renders the same in every frame (no flicker).

The focus moves linearly in *inverse* distance (dioptres): the CoC is linear in 1/S1
(CONVENTIONS), so equal steps in 1/S1 move the blur evenly across the depth of the scene, as the
marks on a focus ring do. The f-number moves in equal stops (log2 N). Both follow a smooth
ease-in/ease-out (smoothstep), like a focus puller's hand, unless ``easing="linear"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import replace

import torch

from .errors import InputError
from .lens import Lens
from .render import RenderOutput, render_full

EASINGS = ("smooth", "linear")


def pull_lenses(
    start: Lens,
    *,
    frames: int,
    to_distance_m: float | None = None,
    f_number_to: float | None = None,
    easing: str = "smooth",
) -> list[Lens]:
    """The lens of every frame of a pull from ``start``.

    Args:
        start: the lens of the first frame (f, N, S1, w_s).
        frames: number of frames, >= 2; the last frame has the target lens.
        to_distance_m: S1 of the last frame in metres, or None to keep the focus.
        f_number_to: N of the last frame, or None to keep the aperture.
        easing: ``smooth`` (smoothstep) or ``linear`` progress from the first to the last frame.

    Returns:
        ``frames`` lenses.

    Raises:
        InputError: fewer than 2 frames, no target, an unknown easing or a lens that cannot focus.

    Example:
        >>> lenses = pull_lenses(Lens(50, 2.0, 2.0), frames=3, to_distance_m=6.0, easing="linear")
        >>> [round(lens.focus_distance_m, 2) for lens in lenses]
        [2.0, 3.0, 6.0]
    """
    if frames < 2:
        raise InputError(f"--frames: expected at least 2 frames, got {frames}")
    if to_distance_m is None and f_number_to is None:
        raise InputError("--to-distance/--f-number-to: a pull needs a focus distance or an f-number to go to")
    if easing not in EASINGS:
        raise InputError(f"--easing: expected one of {', '.join(EASINGS)}, got {easing!r}")
    try:  # Lens checks the target like any lens; name the pull's options in its message
        end = replace(
            start,
            focus_distance_m=start.focus_distance_m if to_distance_m is None else to_distance_m,
            f_number=start.f_number if f_number_to is None else f_number_to,
        )
    except InputError as error:
        message = str(error).replace("--focus-distance", "--to-distance").replace("--f-number", "--f-number-to")
        raise InputError(message) from None
    lenses = []
    for index in range(frames):
        t = index / (frames - 1)
        if easing == "smooth":
            t = t * t * (3.0 - 2.0 * t)
        inverse_m = (1.0 - t) / start.focus_distance_m + t / end.focus_distance_m
        stops = (1.0 - t) * math.log2(start.f_number) + t * math.log2(end.f_number)
        lenses.append(replace(start, focus_distance_m=1.0 / inverse_m, f_number=2.0**stops))
    lenses[-1] = end  # exactly the target, without rounding from the interpolation
    return lenses


def render_pull(
    image: torch.Tensor,
    depth_m: torch.Tensor,
    lenses: list[Lens],
    *,
    progress: Callable[[int, int], None] | None = None,
    **render_options,
) -> Iterator[RenderOutput]:
    """Render one frame per lens, lazily (a pull of 48 full frames need not fit in memory).

    Args:
        image: ``(C, H, W)`` linear colour.
        depth_m: ``(H, W)`` z-depth in metres, the same for every frame.
        lenses: the lens of every frame (:func:`pull_lenses`).
        progress: called as ``progress(frames_done, frames)``.
        **render_options: passed to :func:`bokehsim.render.render_full` (aperture, alpha,
            clipped_highlights, device ...).

    Yields:
        The :class:`~bokehsim.render.RenderOutput` of each frame, in order.
    """
    for index, lens in enumerate(lenses):
        yield render_full(image, depth_m, lens, **render_options)
        if progress is not None:
            progress(index + 1, len(lenses))

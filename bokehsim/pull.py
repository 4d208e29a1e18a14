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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from . import io, tone
from .errors import InputError
from .jobs import (
    DepthSource, LensSettings, check_lens_settings, check_render_options, focus_distance_of, load_inputs,
    sidecar_parameters, write_render_outputs,
)
from .lens import Lens
from .render import RenderOutput, render_full
from .video import VIDEO_FORMATS, check_ffmpeg, sequence_paths, write_sequence, write_video

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
    lenses[0], lenses[-1] = start, end  # exactly the given lenses, without rounding from the interpolation
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


@dataclass
class PullReport:
    """What :func:`pull_files` wrote: the files, the frame size and count, and the wall time."""

    outputs: list[Path]
    width_px: int
    height_px: int
    frames: int
    elapsed_s: float


def pull_files(
    image: Path,
    output: Path,
    *,
    lens: LensSettings,
    depth: DepthSource,
    to_distance_m: float | None = None,
    f_number_to: float | None = None,
    frames: int = 48,
    fps: float = 24.0,
    easing: str = "smooth",
    highlights: bool = True,
    device: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> PullReport:
    """Do what `bokehsim pull` does: every check first, then read, render every frame, write.

    Args:
        image, depth, lens: as for :func:`bokehsim.jobs.render_files`; the lens is the first frame's.
        output: ``.mp4`` (imageio-ffmpeg) or an image name whose numbered siblings hold the frames
            (:func:`bokehsim.video.sequence_paths`).
        to_distance_m, f_number_to, frames, easing: the pull (:func:`pull_lenses`).
        fps: frames per second of the mp4 (recorded in the sidecar of a sequence).
        highlights: highlight expansion of 8/16-bit inputs, as in `render`.
        device: ``auto``, ``cpu`` or ``cuda``.
        progress: ``progress(frames_done, frames)``.
        warn: receives one-line warnings (depth calibration).

    Raises:
        InputError: any bad option or input, before any output is written.
    """
    started = time.perf_counter()
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(f"--fps: expected a positive number of frames per second, got {fps:g}")
    check_render_options(bit_depth=None, device=device, tile_size=None, highlight_threshold=tone.DEFAULT_HIGHLIGHT_THRESHOLD,
                         highlight_gain=tone.DEFAULT_HIGHLIGHT_GAIN)
    checked = check_lens_settings(lens, depth)
    focus_m = focus_distance_of(lens, depth)
    # The pull's own numbers, checked on a stand-in first frame (its focus is known once depth is read).
    pull_lenses(Lens(checked.focal_length_mm, checked.f_number, focus_m or 1000.0, checked.sensor_width_mm),
                frames=frames, to_distance_m=to_distance_m, f_number_to=f_number_to, easing=easing)
    frame_paths = _check_pull_output(output, frames, [image, depth.path])

    inputs = load_inputs(image, depth, checked, focus_m)
    for warning in inputs.depth.warnings:
        (warn or (lambda _: None))(warning)
    lenses = pull_lenses(inputs.lens, frames=frames, to_distance_m=to_distance_m, f_number_to=f_number_to, easing=easing)
    picture = inputs.picture
    clipped = highlights and picture.transfer == "srgb"
    results = render_pull(picture.color, inputs.depth.depth_m, lenses, aperture=inputs.aperture, alpha=picture.alpha,
                          clipped_highlights=clipped, device=device, progress=progress)
    if frame_paths is None:
        write_video(output, (_display_codes(result, picture) for result in results), fps=fps)
    else:
        write_sequence(frame_paths, results, lambda path, result: write_render_outputs(result, picture, path, None, None, None))

    parameters = {
        "command": "pull", "image": image, "output": output, **sidecar_parameters(lens, depth, inputs),
        "to_distance_m": to_distance_m, "f_number_to": f_number_to, "easing": easing, "fps": fps,
        "highlights": {"expanded": clipped}, "device": device,
        "frames": [{"focus_distance_m": l.focus_distance_m, "f_number": l.f_number} for l in lenses],
    }
    elapsed = time.perf_counter() - started
    io.write_sidecar(output, parameters, [image] + ([depth.path] if depth.path else []), elapsed)
    height, width = picture.color.shape[1:]
    return PullReport(frame_paths or [output], width, height, frames, elapsed)


def _check_pull_output(output: Path, frames: int, inputs: list[Path | None]) -> list[Path] | None:
    """Check the video, or every file of the sequence; return the sequence's paths (None for video)."""
    if output.suffix.lower() in VIDEO_FORMATS:
        io.check_output_path(output, inputs, formats=VIDEO_FORMATS)
        check_ffmpeg()
        return None
    io.check_output_path(output, inputs)
    paths = sequence_paths(output, frames)
    for path in paths:
        io.check_output_path(path, inputs)
    return paths


def _display_codes(result: RenderOutput, picture: io.ImageData) -> np.ndarray:
    """A rendered frame as ``(H, W, 3)`` 8-bit sRGB, as an 8-bit `render` output would store it."""
    color = result.image[: picture.color.shape[0]].cpu()
    if picture.transfer == "linear":
        color = tone.compress_highlights(color)  # HDR input: the shoulder, as for 8-bit files
    return io.display_codes(color.expand(3, -1, -1))

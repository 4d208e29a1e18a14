"""Frames out: an mp4 (H.264 through imageio-ffmpeg, the ``video`` extra) or a numbered image
sequence (``pull.png`` -> ``pull_0001.png``, ``pull_0002.png`` ...), never left half written."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .errors import InputError
from .io import atomic_output

VIDEO_FORMATS = (".mp4",)


def sequence_paths(output: Path, frames: int) -> list[Path]:
    """The file of every frame of a sequence written to ``output`` (its stem + ``_NNNN``).

    Example:
        >>> [p.name for p in sequence_paths(Path("out/pull.png"), 2)]
        ['pull_0001.png', 'pull_0002.png']
    """
    digits = max(4, len(str(frames)))
    return [output.with_name(f"{output.stem}_{index:0{digits}d}{output.suffix}") for index in range(1, frames + 1)]


def check_ffmpeg() -> None:
    """Raise :class:`InputError` unless imageio-ffmpeg and its bundled ffmpeg are available."""
    try:
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as error:
        raise InputError(
            f"-o .mp4: needs imageio-ffmpeg (pip install 'bokehsim[video]'), not usable here ({error}); "
            "or write a numbered .png/.exr sequence"
        ) from None


def write_video(output: Path, frames_rgb8: Iterable[np.ndarray], *, fps: float) -> None:
    """Encode ``(H, W, 3)`` uint8 sRGB frames as an H.264 mp4, atomically.

    Odd sizes are padded by one pixel (H.264 in yuv420p needs even sizes). Frames are consumed
    one at a time, so a long pull never sits in memory.
    """
    import imageio_ffmpeg

    with atomic_output(output) as tmp:
        writer = None
        try:
            for frame in frames_rgb8:
                if writer is None:
                    height, width = frame.shape[:2]
                    writer = imageio_ffmpeg.write_frames(
                        str(tmp), (width, height), fps=fps, codec="libx264", quality=8, macro_block_size=1,
                        output_params=["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"],
                    )
                    writer.send(None)  # start the generator
                writer.send(np.ascontiguousarray(frame))
        finally:
            if writer is not None:
                writer.close()


def write_sequence(paths: list[Path], frames: Iterable, write_frame: Callable[[Path, object], None]) -> None:
    """Write one file per frame with ``write_frame(path, frame)``; on failure remove those written."""
    written: list[Path] = []
    try:
        for path, frame in zip(paths, frames, strict=True):
            write_frame(path, frame)
            written.append(path)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise

"""Frames out: mp4 through imageio-ffmpeg, numbered sequences, nothing left half written."""

from pathlib import Path

import numpy as np
import pytest

from bokehsim.video import sequence_paths, write_sequence, write_video


def test_sequence_names_are_numbered_from_one():
    assert [p.name for p in sequence_paths(Path("a/pull.exr"), 3)] == ["pull_0001.exr", "pull_0002.exr", "pull_0003.exr"]
    assert sequence_paths(Path("p.png"), 12000)[-1].name == "p_12000.png"


def test_failed_sequence_removes_its_frames(tmp_path):
    paths = sequence_paths(tmp_path / "f.png", 3)

    def frames():
        yield 1
        yield 2
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError):
        write_sequence(paths, frames(), lambda path, frame: path.write_text(str(frame)))
    assert list(tmp_path.iterdir()) == []


def test_mp4_holds_every_frame_at_odd_sizes(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    levels = (40, 128, 220)
    frames = [np.full((21, 33, 3), level, np.uint8) for level in levels]
    output = tmp_path / "pull.mp4"
    write_video(output, iter(frames), fps=24)
    assert [p.name for p in tmp_path.iterdir()] == ["pull.mp4"]
    reader = imageio_ffmpeg.read_frames(str(output))
    meta = next(reader)
    assert meta["size"] == (34, 22) and meta["fps"] == 24
    decoded = [np.frombuffer(f, np.uint8).reshape(22, 34, 3) for f in reader]
    assert [round(float(f[:21, :33].mean())) for f in decoded] == pytest.approx(levels, abs=3)

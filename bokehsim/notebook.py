"""The measurement notebook of the seed article: one CSV row per image (time, image, focal length,
distances, f-number, look, diagnose score, a 1-5 rating), a summary of which settings did best, and a
PNG plot of score against focal length and subject distance.

The CSV has a header row with :data:`COLUMNS`; an empty cell is a value nobody gave (a render has
no diagnose score, a rating is optional).
"""

from __future__ import annotations

import csv
from io import StringIO
import math
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import InputError

COLUMNS = (
    "time", "command", "image", "output", "focal_length_mm", "camera_to_subject_m", "subject_to_background_m",
    "f_number", "look", "score", "rating",
)
#: The columns that make "the settings" of a row in the summary.
SETTINGS = ("focal_length_mm", "camera_to_subject_m", "subject_to_background_m", "f_number", "look")
_NUMBERS = ("focal_length_mm", "camera_to_subject_m", "subject_to_background_m", "f_number", "score", "rating")


def check_rating(rating: int | None) -> None:
    """Raise :class:`InputError` unless ``rating`` is None or an integer 1..5."""
    if rating is not None and rating not in (1, 2, 3, 4, 5):
        raise InputError(f"--rating: expected an integer from 1 to 5, got {rating}")


def check_notebook(path: str | os.PathLike) -> None:
    """Refuse a notebook that cannot be appended to; call before any work.

    Raises:
        InputError: not ``.csv``, a missing or unwritable folder, or an existing file whose header
            is not :data:`COLUMNS`.
    """
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise InputError(f"--note: expected a .csv file, got {path}")
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise InputError(f"--note: {path}: folder '{path.parent}' does not exist or is not writable")
    if path.is_file() and path.stat().st_size > 0:
        header = _header(path)
        if header != list(COLUMNS):
            raise InputError(f"{path}: expected the notebook header {','.join(COLUMNS)}, got {','.join(header)}")


def append_note(path: str | os.PathLike, **values) -> dict:
    """Append one row to the notebook (created with its header when new or empty).

    Args:
        path: the ``.csv`` file.
        **values: cells by column name (see :data:`COLUMNS`); ``time`` defaults to now (UTC),
            missing cells are left empty.

    Returns:
        The row written, as ``{column: text}``.

    Raises:
        InputError: an unknown column, or the checks of :func:`check_notebook`.
    """
    path = Path(path)
    unknown = [key for key in values if key not in COLUMNS]
    if unknown:
        raise InputError(f"{path}: unknown notebook column {unknown[0]!r}")
    check_notebook(path)
    check_rating(values.get("rating"))
    values.setdefault("time", datetime.now(timezone.utc).isoformat(timespec="seconds"))
    row = {column: _cell(values.get(column)) for column in COLUMNS}
    text = StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    if not path.is_file() or path.stat().st_size == 0:
        writer.writeheader()
    writer.writerow(row)
    try:
        with open(path, "a", encoding="utf-8", newline="") as f:
            f.write(text.getvalue())  # one write: a row is either there or not
    except OSError as error:
        raise InputError(f"{path}: cannot append to the notebook ({error.strerror or error})") from None
    return row


@dataclass(frozen=True)
class NoteSettings:
    """``--note FILE`` and ``--rating 1-5``: where to append a row for a run, and the user's rating."""

    path: Path | None = None
    rating: int | None = None

    def __post_init__(self) -> None:
        if self.rating is not None and self.path is None:
            raise InputError("--rating: only used with --note notebook.csv")
        check_rating(self.rating)
        if self.path is not None:
            check_notebook(self.path)


def note_run(note: NoteSettings, parameters: dict, *, score: float | None = None) -> dict | None:
    """Append the row of one run from its sidecar parameters (nothing without ``--note``).

    The camera-to-subject distance is the focus distance S1; the subject-to-background distance
    comes from the run's shot, if it had one.
    """
    if note.path is None:
        return None
    shot = parameters.get("shot") or {}
    shot = shot if isinstance(shot, dict) else asdict(shot)
    return append_note(
        note.path, command=parameters.get("command"), image=parameters.get("image"), output=parameters.get("output"),
        focal_length_mm=parameters.get("focal_length_mm"), camera_to_subject_m=parameters.get("focus_distance_m"),
        subject_to_background_m=shot.get("subject_to_background_m"), f_number=parameters.get("f_number"),
        look=parameters.get("look"), score=score, rating=note.rating,
    )


def read_notebook(path: str | os.PathLike) -> list[dict]:
    """The rows of a notebook, numbers as floats and empty cells as None.

    Raises:
        InputError: a missing file, a wrong header, or a cell that should be a number and is not
            (the message names the line and the column).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: notebook not found")
    header = _header(path)
    if header != list(COLUMNS):
        raise InputError(f"{path}: expected the notebook header {','.join(COLUMNS)}, got {','.join(header)}")
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for line, record in enumerate(csv.DictReader(f), start=2):
            row = {key: (value or None) for key, value in record.items() if key in COLUMNS}
            for key in _NUMBERS:
                if row[key] is not None:
                    try:
                        row[key] = float(row[key])
                    except ValueError:
                        raise InputError(f"{path}: line {line}: {key}: expected a number, got {row[key]!r}") from None
            rows.append(row)
    return rows


@dataclass(frozen=True)
class SettingsSummary:
    """How one set of settings did: rows, mean diagnose score and mean rating (None if never given)."""

    settings: dict
    images: int
    mean_score: float | None
    mean_rating: float | None


def summarize(rows: list[dict]) -> list[SettingsSummary]:
    """Group rows by :data:`SETTINGS`; best first (mean rating, then mean score; unrated last).

    Example:
        >>> rows = [dict(focal_length_mm=85.0, camera_to_subject_m=1.5, subject_to_background_m=3.0,
        ...              f_number=1.8, look=None, score=0.8, rating=5.0),
        ...         dict(focal_length_mm=35.0, camera_to_subject_m=2.5, subject_to_background_m=4.0,
        ...              f_number=2.0, look=None, score=0.9, rating=3.0)]
        >>> [s.settings["focal_length_mm"] for s in summarize(rows)]
        [85.0, 35.0]
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(tuple(row[key] for key in SETTINGS), []).append(row)
    summaries = [
        SettingsSummary(dict(zip(SETTINGS, key)), len(members), _mean(members, "score"), _mean(members, "rating"))
        for key, members in groups.items()
    ]
    return sorted(summaries, key=lambda s: (s.mean_rating is None, -(s.mean_rating or 0), s.mean_score is None, -(s.mean_score or 0)))


def plot_png(rows: list[dict], path: str | os.PathLike, *, width_px: int = 960, height_px: int = 400) -> str:
    """Draw score (or rating, where no row has a score) against focal length and subject distance.

    Two panels side by side; one dot per image, its colour the rating (red 1 .. green 5, grey none).

    Returns:
        The quantity on the vertical axes: ``"score"`` or ``"rating"``.

    Raises:
        InputError: no row has both a value and the panel's setting, or the PNG cannot be written.
    """
    from .io import write_preview_png

    quantity = "score" if any(row["score"] is not None for row in rows) else "rating"
    panels = (("focal_length_mm", "focal length (mm)"), ("camera_to_subject_m", "camera to subject (m)"))
    canvas = Image.new("RGB", (width_px, height_px), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for index, (key, label) in enumerate(panels):
        points = [(row[key], row[quantity], row["rating"]) for row in rows if row[key] is not None and row[quantity] is not None]
        if not points:
            raise InputError(f"{path}: no notebook row has both {quantity} and {key} to plot")
        box = (index * width_px // 2 + 50, 20, (index + 1) * width_px // 2 - 20, height_px - 40)
        _panel(draw, font, box, points, label, quantity)
    write_preview_png(path, np.asarray(canvas))
    return quantity


def _panel(draw, font, box, points, x_label: str, y_label: str) -> None:
    left, top, right, bottom = box
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_low, x_high = _padded(min(xs), max(xs))
    y_low, y_high = _padded(min(ys), max(ys))
    draw.rectangle(box, outline="black")

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x_low) / (x_high - x_low) * (right - left), bottom - (y - y_low) / (y_high - y_low) * (bottom - top))

    for i in range(5):
        fx, fy = x_low + (x_high - x_low) * i / 4, y_low + (y_high - y_low) * i / 4
        px, _ = at(fx, y_low)
        _, py = at(x_low, fy)
        draw.line((px, bottom, px, bottom + 4), fill="black")
        draw.text((px - 10, bottom + 6), f"{fx:.3g}", fill="black", font=font)
        draw.line((left - 4, py, left, py), fill="black")
        draw.text((left - 40, py - 6), f"{fy:.3g}", fill="black", font=font)
    draw.text(((left + right) / 2 - 50, bottom + 22), x_label, fill="black", font=font)
    draw.text((left + 4, top + 4), y_label, fill="black", font=font)
    for x, y, rating in points:
        cx, cy = at(x, y)
        draw.ellipse((cx - 5, cy - 5, cx + 5, cy + 5), fill=_rating_colour(rating), outline="black")


def _rating_colour(rating: float | None) -> tuple[int, int, int]:
    if rating is None:
        return (160, 160, 160)
    t = (min(max(rating, 1.0), 5.0) - 1.0) / 4.0
    return (round(220 * (1 - t)), round(180 * t), 40)


def _padded(low: float, high: float) -> tuple[float, float]:
    """An axis range around [low, high] with 10 % margin (a unit around a single value)."""
    margin = 0.1 * (high - low) if high > low else max(abs(low) * 0.1, 0.5)
    return low - margin, high + margin


def _mean(rows: list[dict], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return sum(values) / len(values) if values else None


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return str(value)


def _header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the notebook ({getattr(error, 'strerror', None) or error})") from None

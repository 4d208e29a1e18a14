"""A rich progress bar that appears only once a task has run for more than a second."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

SHOW_AFTER_S = 1.0


class LazyProgress:
    """Context manager; ``update(done, total)`` is the callback handed to long library calls."""

    def __init__(self, description: str, *, stderr: Console) -> None:
        self.description = description
        self.console = stderr
        self.started = time.perf_counter()
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self) -> "LazyProgress":
        self.started = time.perf_counter()
        return self

    def update(self, done: int, total: int) -> None:
        if self.progress is None:
            if time.perf_counter() - self.started < SHOW_AFTER_S or done >= total:
                return
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(), console=self.console, transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.description, total=total)
        self.progress.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

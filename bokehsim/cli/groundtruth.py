"""`bokehsim groundtruth`: render reference depth of field for scene files with Mitsuba 3."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import InputError
from ._app import app, err_console, handle_input_errors


class Method(str, Enum):
    """How the reference is rendered (bokehsim.groundtruth.generate.METHODS)."""

    auto = "auto"
    thinlens = "thinlens"
    accumulation = "accumulation"


@app.command("groundtruth", rich_help_panel="Evaluation")
@handle_input_errors
def groundtruth_cli(
    scenes: Annotated[list[Path], typer.Argument(help="Scene files (.toml) or folders of them, e.g. scenes/gt.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder; each scene goes to OUTPUT/<scene name>/.", show_default=False)],
    width: Annotated[int | None, typer.Option("--width", help="Image width in px (height keeps the scene's aspect ratio). Default: the scene's.")] = None,
    spp: Annotated[int | None, typer.Option("--spp", help="Samples per pixel of the pinhole and the reference. Default: the scene's.")] = None,
    look: Annotated[str | None, typer.Option("--look", help="Aperture look, e.g. circle, blades:n=7,rotation=15,curvature=0.3, oval:aspect=1.5,angle=30, anamorphic:squeeze=2, cat-eye:strength=0.6. Default: the scene's.")] = None,
    method: Annotated[Method, typer.Option("--method", help="Reference renderer: auto (thin lens for the circle, lens-sample accumulation otherwise), thinlens, accumulation.")] = Method.auto,
    npy: Annotated[bool, typer.Option("--npy", help="Also write .npy copies of the images and the depth.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Render scenes again that OUTPUT already holds.")] = False,
) -> None:
    """Render ground truth: depth.exr (z-depth, m), pinhole.exr, reference.exr (depth of field), scene.json.

    Needs Mitsuba 3: pip install "bokehsim\\[groundtruth]". Interrupted runs resume: finished scenes are skipped.
    """
    from ..groundtruth import Settings, generate, is_done, load_scene, parse_look, planned_ticks
    from ..groundtruth.generate import check_out_root, reference_method, effective_shot

    if width is not None and width < 8:
        raise InputError(f"--width: expected an integer >= 8, got {width}")
    if spp is not None and spp < 2:
        raise InputError(f"--spp: expected an integer >= 2 (the reference is split into two halves), got {spp}")
    method = method.value
    settings = Settings(width_px=width, spp=spp, look=parse_look(look) if look else None, look_source=look,
                        method=method, npy=npy, force=force)
    loaded = _check_unique_names([load_scene(path) for path in _scene_files(scenes)])
    check_out_root(output)
    todo = []
    for scene in loaded:  # every check before the first render, so a bad scene fails fast
        reference_method(effective_shot(scene, settings), method)
        if is_done(scene, output, settings):
            err_console.print(f"{scene.name}: already rendered in {output / scene.name}, skipped (--force renders it again)")
        else:
            todo.append(scene)
    if todo:
        _require_mitsuba()
    with _progress_bar() as bar:
        for scene in todo:
            task = bar.add_task(scene.name, total=planned_ticks(scene, settings), stage="loading")
            folder = generate(scene, output, settings,
                              progress=lambda stage, ticks, task=task: bar.update(task, advance=ticks, stage=stage))
            bar.update(task, stage=f"-> {folder}")


def _require_mitsuba() -> None:
    """Fail before the progress bar when Mitsuba is missing."""
    from ..groundtruth._mitsuba import mitsuba

    mitsuba()


def _scene_files(paths: list[Path]) -> list[Path]:
    """Expand folders to their ``*.toml`` files (sorted); refuse missing paths."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.toml"))
            if not found:
                raise InputError(f"{path}: no scene files (*.toml) in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such scene file or folder")
    return files


def _check_unique_names(scenes) -> list:
    """Drop repeats of the same file; refuse two files that would render into one folder."""
    seen: dict[str, Path] = {}
    unique = []
    for scene in scenes:
        if scene.name in seen:
            if seen[scene.name].resolve() != scene.path.resolve():
                raise InputError(f"{scene.path}: same name as {seen[scene.name]}; both would render into OUTPUT/{scene.name}")
            continue
        seen[scene.name] = scene.path
        unique.append(scene)
    return unique


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[stage]}"),
        console=err_console, transient=False,
    )

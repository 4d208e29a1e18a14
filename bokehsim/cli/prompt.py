"""`bokehsim prompt`: the geometry sentence of a shot for an image generator, or a sentence read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError
from ..prompt import parse_prompt, write_prompt
from ..shot import load_shot, write_shot
from ._app import app, handle_input_errors, out_console


@app.command("prompt")
@handle_input_errors
def prompt_cli(
    shot: Annotated[Path | None, typer.Argument(help="A shot file (scenes/shots/*.toml).", show_default=False)] = None,
    parse: Annotated[str | None, typer.Option("--parse", help="Read this sentence back into a shot instead.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="With --parse: print one JSON object.")] = False,
    shot_out: Annotated[Path | None, typer.Option("--shot-out", help="With --parse: write the parsed shot as a shot file.")] = None,
) -> None:
    """Print the geometry sentence of a shot, or (--parse) what a sentence says, misses and contradicts.

    Example: bokehsim prompt scenes/shots/headshot-85mm.toml; bokehsim prompt --parse "85mm f/1.8, subject 1.5 m from the camera"
    """
    if (shot is None) == (parse is None):
        raise InputError("prompt: give a SHOT file or --parse TEXT (one of them)")
    if parse is None:
        if as_json or shot_out is not None:
            raise InputError("--json/--shot-out: only used with --parse")
        out_console.print(str(write_prompt(load_shot(shot))), markup=False, soft_wrap=True)
        return
    if shot_out is not None:
        _check_shot_out(shot_out)
    parsed = parse_prompt(parse)
    if shot_out is not None:
        parsed_shot = parsed.shot()
        if parsed_shot is None:
            missing = ", ".join(f.code for f in parsed.missing if f.code != "words_instead_of_numbers")
            raise InputError(f"--shot-out: the text does not give {missing}; no shot file written")
        write_shot(shot_out, parsed_shot)
    if as_json:
        typer.echo(json.dumps(parsed.as_json(), indent=2))
        return
    shot_values = parsed.as_json()["shot"]
    lines = [f"{key:<24}{'-' if value is None else f'{value:g}'}" for key, value in shot_values.items()]
    lines += [f"missing: {f.message}" for f in parsed.missing]
    lines += [f"contradiction: {f.message}" for f in parsed.contradictions]
    out_console.print("\n".join(lines), markup=False, soft_wrap=True)


def _check_shot_out(path: Path) -> None:
    if path.suffix.lower() != ".toml":
        raise InputError(f"--shot-out: expected a .toml file, got {path}")
    if not path.parent.is_dir():
        raise InputError(f"--shot-out: {path}: folder '{path.parent}' does not exist")

"""The whole command line: every option of every command refuses a bad value in one line, exit 2,
before any output is written; usage errors are one line too; commands need no optional extra to
say what is missing."""

import subprocess
import sys
import textwrap
from enum import Enum
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from bokehsim import io
from bokehsim.cli import app

runner = CliRunner()

#: Values no option may accept, by the option's value type. Floats are distances, lens numbers,
#: curve parameters: none is negative or NaN. Integers are counts, sizes or a sign in -1..1.
BAD_VALUES = {"float": ["-1", "nan"], "integer": ["-5"], "choice": ["bogus"], "text": ["@@"]}

#: Options that take free text with no wrong value, or whose bad value only shows when used.
FREE_TEXT = {
    ("render", "--depth-model"), ("focus", "--depth-model"), ("diagnose", "--depth-model"),  # any Hugging Face id or folder
    ("pull", "--depth-model"), ("fix", "--depth-model"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny RGB-D pair and a valid ground-truth scene file."""
    folder = tmp_path_factory.mktemp("inputs")
    pixels = np.random.default_rng(0).random((3, 24, 32)).astype(np.float32)
    io.write_image(folder / "in.png", torch.from_numpy(pixels), bit_depth=8, transfer="srgb")
    depth = np.full((24, 32), 5.0, dtype=np.float32)
    depth[:, :16] = 2.0
    np.save(folder / "depth.npy", depth)
    (folder / "scene.toml").write_text(textwrap.dedent("""
        [shot]
        focal_length_mm = 50
        f_number = 2
        focus_distance_m = 2
        width_px = 32
        height_px = 24
        spp = 4
        [[objects]]
        shape = "sphere"
        center_m = [0, 0, 4]
        radius_m = 0.2
        emission = [4, 4, 4]
    """))
    from bokehsim.groundtruth import load_scene

    load_scene(folder / "scene.toml")  # valid: the walk must fail on the option, not on the scene
    return folder


def valid_invocation(command: str, folder, out) -> list[str]:
    """A call of ``command`` that would succeed: the bad value of one option is added to it."""
    image, depth = str(folder / "in.png"), str(folder / "depth.npy")
    return {
        "render": ["render", image, "--depth", depth, "-f", "50", "-N", "2", "--focus-at", "0.5,0.5", "-o", str(out / "o.png")],
        "focus": ["focus", image, "--depth", depth],
        "diagnose": ["diagnose", image, "--depth", depth, "-f", "50", "-N", "2", "--focus-at", "0.25,0.5"],
        "fix": ["fix", image, "--depth", depth, "-f", "50", "-N", "2", "--focus-at", "0.5,0.5", "-o", str(out / "o.png")],
        "kernels": ["kernels", "-o", str(out / "k.png"), "--size", "32x24", "--grid", "1x1", "--coc", "6"],
        "looks": ["looks"],
        "prompt": ["prompt", str(Path(__file__).parent.parent / "scenes" / "shots" / "headshot-85mm.toml")],
        "pull": ["pull", image, "--depth", depth, "-f", "50", "-N", "2", "--focus-distance", "2", "--to-distance", "4",
                 "--frames", "2", "-o", str(out / "p.png")],
        "groundtruth": ["groundtruth", str(folder / "scene.toml"), "-o", str(out / "gt")],
    }[command]


def value_kind(param) -> str | None:
    """Which of BAD_VALUES fits the option, or None for flags and paths (checked on their own)."""
    if getattr(param, "is_flag", False) or param.nargs != 1:
        return None
    annotation = param.type_descriptor.annotation  # the Python type typer converts the text to
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return "choice"
    return {float: "float", int: "integer", str: "text"}.get(annotation)


def options_to_walk():
    command_group = typer.main.get_command(app)
    for command_name, command in sorted(command_group.commands.items()):
        for param in command.params:
            if param.param_type_name != "option" or param.name == "help":
                continue
            kind = value_kind(param)
            flag = max(param.opts, key=len)
            if kind is None or (command_name, flag) in FREE_TEXT:
                continue
            for value in BAD_VALUES[kind]:
                yield pytest.param(command_name, flag, value, id=f"{command_name} {flag} {value}")


def assert_one_line_error(result):
    text = result.output.strip()
    assert result.exit_code == 2, text
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    assert text.startswith("error: "), text


@pytest.mark.parametrize("command, flag, value", list(options_to_walk()))
def test_every_option_refuses_a_bad_value_before_any_work(inputs, tmp_path, command, flag, value):
    args = valid_invocation(command, inputs, tmp_path)
    if flag in args:  # replace the valid value instead of giving the option twice
        index = args.index(flag)
        args = args[: index + 1] + [value] + args[index + 2 :]
    else:
        args = args + [flag, value]
    result = runner.invoke(app, args)
    assert_one_line_error(result)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even a sidecar


def test_the_walk_covers_every_command_and_the_numeric_options():
    walked = {(c, f) for c, f, _ in (p.values for p in options_to_walk())}
    commands = {c for c, _ in walked}
    assert {"render", "focus", "kernels", "groundtruth"} <= commands
    for expected in [("render", "--highlight-threshold"), ("render", "--highlight-gain"), ("render", "--tile-size"),
                     ("render", "--f-number"), ("render", "--near"), ("render", "--device"), ("render", "--bit-depth"),
                     ("kernels", "--grid"), ("groundtruth", "--spp"), ("groundtruth", "--method")]:
        assert expected in walked


@pytest.mark.parametrize("args", [
    ["render"],  # no image
    ["render", "x.png"],  # no --output
    ["nope"],  # no such command
    ["render", "x.png", "-o", "y.png", "--no-such-option"],
])
def test_usage_errors_are_one_line(args):
    assert_one_line_error(runner.invoke(app, args))


def test_highlight_curve_is_checked_before_the_inputs_are_read(tmp_path):
    # The image does not exist: the curve is what must be reported, before any file is touched.
    result = runner.invoke(app, ["render", str(tmp_path / "missing.png"), "--depth", str(tmp_path / "d.npy"), "-f", "50",
                                 "-N", "2", "--focus-distance", "2", "-o", str(tmp_path / "o.png"), "--highlight-threshold", "1.5"])
    assert_one_line_error(result)
    assert "--highlight-threshold" in result.output


def test_groundtruth_without_its_extra_says_how_to_install(inputs, tmp_path):
    """A fresh interpreter where neither mitsuba nor drjit can be imported, as without the extra."""
    script = textwrap.dedent(f"""
        import sys, importlib.abc
        class NoMitsuba(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.split(".")[0] in ("mitsuba", "drjit"):
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, NoMitsuba())
        sys.argv = ["bokehsim", "groundtruth", {str(inputs / "scene.toml")!r}, "-o", {str(tmp_path / "gt")!r}]
        from bokehsim.cli import main
        main()
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install "bokehsim[groundtruth]"' in lines[0], result.stderr
    assert not (tmp_path / "gt").exists()


def test_render_diagnose_and_fix_each_append_one_notebook_row(inputs, tmp_path):
    notebook = tmp_path / "notebook.csv"
    for command in ("render", "diagnose", "fix"):
        args = valid_invocation(command, inputs, tmp_path) + ["--note", str(notebook), "--rating", "4"]
        args = [("0.25,0.5" if a == "0.5,0.5" else a) for a in args]  # on the near subject (left half)
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    rows = notebook.read_text().splitlines()[1:]
    assert [row.split(",")[1] for row in rows] == ["render", "diagnose", "fix"]
    assert all(row.endswith(",4") for row in rows)

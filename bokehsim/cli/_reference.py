"""Write the command-line reference (docs/cli.md) from the typer app itself.

Run `python -m bokehsim.cli._reference > docs/cli.md` after changing a command or an option;
tests/test_docs.py fails while the committed page and the app disagree. The page is built from the
click command tree (names, help, defaults) and the commands' type annotations, never from rich's
rendering of `--help`, so it does not depend on the terminal's width or on the typer version's
help layout.
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

#: The command that regenerates the page; the test's failure message quotes it.
REGENERATE = "python -m bokehsim.cli._reference > docs/cli.md"

_PROG = "bokehsim"


def cli_reference(app: typer.Typer) -> str:
    """The Markdown reference of every command and option of `app`.

    Args:
        app: the typer app (`bokehsim.cli.app`, with every command registered).

    Returns:
        The page, Markdown, ending in one newline: the program's help and options, then one
        section per command (sorted by name) with its help, usage, arguments and options (name,
        type, default, help), options grouped under the panels `--help` shows.
    """
    group = typer.main.get_command(app)
    lines = [
        "# Command-line reference",
        "",
        f"<!-- Generated from the typer app by `{REGENERATE}`; do not edit by hand. -->",
        "",
        *_help_paragraphs(group.help),
        "",
        f"Every command also takes `--help`. Usage: `{_PROG} [OPTIONS] COMMAND [ARGS]...`",
        "",
        *_param_table(group.params, group.callback),
    ]
    for name in sorted(group.commands):
        command = group.commands[name]
        if not command.hidden:
            lines += ["", *_command_section(name, command)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _command_section(name: str, command: Any) -> list[str]:
    arguments = [p for p in command.params if _is_argument(p)]
    options = [p for p in command.params if not _is_argument(p) and not getattr(p, "hidden", False)]
    usage = " ".join([_PROG, name, "[OPTIONS]", *(_argument_usage(p) for p in arguments)])
    lines = [f"## `{_PROG} {name}`", "", *_help_paragraphs(command.help), "", "```text", usage, "```"]
    if arguments:
        lines += ["", "**Arguments**", "", *_param_table(arguments, command.callback)]
    panels: dict[str, list[Any]] = {}
    for option in options:
        panels.setdefault(getattr(option, "rich_help_panel", None) or "Options", []).append(option)
    for panel, members in panels.items():
        lines += ["", f"**{panel}**", "", *_param_table(members, command.callback)]
    return lines


def _help_paragraphs(help_text: str | None) -> list[str]:
    """The help text as Markdown paragraphs: rich markup removed, `\\f` (click's cut mark) honoured."""
    text = inspect.cleandoc((help_text or "").split("\f")[0])
    paragraphs = [" ".join(part.split()) for part in re.split(r"\n\s*\n", text) if part.strip()]
    out: list[str] = []
    for paragraph in map(_plain, paragraphs):
        if paragraph.startswith("Example: "):  # our commands' docstrings end with runnable examples
            examples = paragraph.removeprefix("Example: ").split("; ")
            out += ["Example:", "", "```bash", *examples, "```", ""]
        else:
            out += [_markdown(paragraph), ""]
    return out[:-1]


def _param_table(params: list[Any], callback) -> list[str]:
    hints = _type_hints(callback)
    rows = ["| name | type | default | description |", "| --- | --- | --- | --- |"]
    for param in params:
        if getattr(param, "hidden", False):
            continue
        names = ", ".join(f"`{opt}`" for opt in _names(param))
        help_text = _markdown(_plain(" ".join((getattr(param, "help", None) or "").split())))
        rows.append(f"| {names} | {_type_text(param, hints.get(param.name))} | {_default_text(param)} | {help_text} |")
    return rows


def _is_argument(param: Any) -> bool:
    # Plain click and the copy of click that recent typer vendors share the kind's name, not a class.
    return param.param_type_name == "argument"


def _names(param: Any) -> list[str]:
    if _is_argument(param):
        return [_argument_usage(param)]
    if param.secondary_opts:  # a --flag/--no-flag pair reads best as one name
        return [f"{param.opts[0]} / {param.secondary_opts[0]}", *param.opts[1:]]
    return list(param.opts)


def _argument_usage(param: Any) -> str:
    name = (param.metavar or param.name or "").upper()
    if param.nargs == -1:
        name += "..."
    return name if param.required else f"[{name}]"


def _type_hints(callback) -> dict[str, object]:
    """The annotations of a command's function (typer's wrapper copies them), Annotated stripped."""
    if callback is None:
        return {}
    return typing.get_type_hints(inspect.unwrap(callback))


def _type_text(param: Any, annotation: object) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    if annotation is None:
        return ""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]  # X | None is an optional X
    if typing.get_origin(annotation) is list:
        return _type_text(param, typing.get_args(annotation)[0]) + " ..."
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return " \\| ".join(f"`{member.value}`" for member in annotation)
    if isinstance(annotation, type) and issubclass(annotation, Path):
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(param: Any) -> str:
    if param.required:
        return "required"
    default = param.default
    if getattr(param, "is_flag", False) and param.secondary_opts:
        if default is None:
            return ""  # the help says what happens when neither is given
        return f"`{param.opts[0] if default else param.secondary_opts[0]}`"
    if getattr(param, "is_flag", False):
        return "off" if not default else "on"
    if default is None or default == () or default == []:
        return ""
    if isinstance(default, enum.Enum):
        default = default.value
    return f"`{default}`"


def _plain(text: str) -> str:
    """Help text as the user reads it: rich markup (`\\[` escapes, [bold] tags) removed."""
    return Text.from_markup(text).plain


def _markdown(text: str) -> str:
    """Escape what Markdown would read as markup or HTML, outside `code spans`."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts lie outside code spans
        parts[i] = re.sub(r"([\\*_\[\]|])", r"\\\1", parts[i]).replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def main() -> None:
    """Print the reference of `bokehsim.cli.app` to stdout."""
    from . import app

    print(cli_reference(app), end="")


if __name__ == "__main__":
    main()

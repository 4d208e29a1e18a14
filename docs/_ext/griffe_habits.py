"""A griffe extension that reads two habits of bokehsim's Google-style docstrings.

* ``Example:`` (singular, STYLE.md's habit) is read as griffe's ``Examples:`` section, so doctests
  render as code rather than as Markdown quotes.
* ``Args:`` entries that document several parameters at once (``x, y: the point, in pixels.``)
  become one entry per parameter with the shared description, so each is checked against the
  signature like any other (a name the signature lacks still fails ``mkdocs build --strict``).
* Sphinx roles (``:func:`coc_px` ``, ``:class:`~bokehsim.lens.Lens` ``) become code spans.

mkdocs.yml loads this file through mkdocstrings' ``extensions`` option.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_EXAMPLE = re.compile(r"^(\s*)Example:\s*$")
_ARGS = re.compile(r"^(\s*)(Args|Arguments|Parameters):\s*$")
_GROUPED = re.compile(r"^(\s*)(\*{0,2}\w+(?:, \*{0,2}\w+)+):(.*)$")
_ROLE = re.compile(r":(?:func|class|mod|meth|data|attr|exc|obj):`~?([^`]+)`")


def normalise(text: str) -> str:
    """The docstring with the two habits rewritten into forms griffe's Google parser knows."""
    text = _ROLE.sub(r"`\1`", text)
    lines = [_EXAMPLE.sub(r"\1Examples:", line) for line in text.splitlines()]
    out: list[str] = []
    i = 0
    section_indent: int | None = None
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if _ARGS.match(line):
            section_indent = indent
        elif line.strip() and section_indent is not None and indent <= section_indent:
            section_indent = None  # the next section (or the text after Args) began
        grouped = _GROUPED.match(line) if section_indent is not None else None
        if grouped is None:
            out.append(line)
            i += 1
            continue
        # The entry runs on over the lines indented deeper than its first line.
        end = i + 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
            end += 1
        while not lines[end - 1].strip():  # blank lines after the entry belong to what follows
            end -= 1
        body = lines[i + 1 : end]
        for name in grouped.group(2).split(", "):
            out += [f"{grouped.group(1)}{name}:{grouped.group(3)}", *body]
        i = end
    return "\n".join(out)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class DocstringHabits(griffe.Extension):
    """Rewrite every docstring with :func:`normalise` before griffe parses it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = normalise(obj.docstring.value)

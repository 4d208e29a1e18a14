"""The documentation: the site builds strictly, the CLI page matches the app, the README's links resolve."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

import bokehsim
from bokehsim.cli import app
from bokehsim.cli._reference import REGENERATE, _markdown, _plain, cli_reference

ROOT = Path(__file__).resolve().parents[1]


def test_site_builds_strictly(tmp_path):
    # --strict turns every warning into a failure: a broken link or anchor, a page missing from the
    # nav, an API object that does not exist, a docstring griffe cannot read. About 2 s.
    pytest.importorskip("mkdocs", reason='the docs extra is missing: pip install -e ".[test]"')
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line or "Error" in line]
    assert result.returncode == 0, "mkdocs build --strict failed:\n" + "\n".join(warnings or [result.stderr[-3000:]])
    assert (tmp_path / "site" / "api" / "render" / "index.html").is_file()


def test_cli_page_matches_the_app():
    committed = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == cli_reference(app), f"docs/cli.md differs from the command line: run `{REGENERATE}`"


def test_cli_page_lists_every_command_and_option():
    page = cli_reference(app)
    group = typer.main.get_command(app)
    assert group.commands, "no commands registered"
    for name, command in group.commands.items():
        assert f"## `bokehsim {name}`" in page
        section = page.split(f"## `bokehsim {name}`", 1)[1].split("\n## ", 1)[0]
        for param in command.params:
            for opt in [*param.opts, *param.secondary_opts]:
                shown = opt.upper() if param.param_type_name == "argument" else opt
                assert f"{shown}" in section, f"bokehsim {name}: {opt} missing from its section"
            if param.help:
                assert _markdown(_plain(" ".join(param.help.split()))) in section, f"bokehsim {name}: help of {param.name}"


def test_cli_page_does_not_depend_on_the_terminal(monkeypatch):
    wide = cli_reference(app)
    monkeypatch.setenv("COLUMNS", "38")
    monkeypatch.setenv("TERM", "dumb")
    assert cli_reference(app) == wide


def test_api_page_names_every_export():
    page = (ROOT / "docs" / "api" / "bokehsim.md").read_text(encoding="utf-8")
    for name in bokehsim.__all__:
        assert f"`{name}`" in page, f"docs/api/bokehsim.md does not document bokehsim.{name}"


def test_readme_links_point_at_files_that_exist():
    # GitHub renders README.md from the repository root; mkdocs never sees it.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "the README links to no docs page"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
    linked_pages = {Path(t).name for t in local if t.startswith("docs/")}
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}  # index.md is the site's README
    assert pages <= linked_pages, f"README.md does not link to {sorted(pages - linked_pages)}"

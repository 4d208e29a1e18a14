"""`bokehsim looks`: the named lens looks shipped in looks/, one line each."""

from __future__ import annotations

from typing import Annotated

import typer

from ..looks import list_looks, load_look
from ._app import app, handle_input_errors, out_console


@app.command("looks")
@handle_input_errors
def looks_cli(
    name: Annotated[str | None, typer.Argument(help="Show one look (a name or a .toml path) in full.", show_default=False)] = None,
) -> None:
    """List the named lens looks (use one with --look NAME), or show one in full.

    Example: bokehsim looks; bokehsim looks vintage-58mm-swirl
    """
    if name is not None:
        look = load_look(name)
        out_console.print(f"{look.name}: {look.description}", soft_wrap=True, markup=False)
        out_console.print(f"  file:     {look.path}", soft_wrap=True, markup=False)
        out_console.print(f"  aperture: {look.aperture.spec}", soft_wrap=True, markup=False)
        out_console.print(f"  profile:  {look.aperture.profile.spec}", soft_wrap=True, markup=False)
        out_console.print(f"  lens:     {_lens_text(look)}", soft_wrap=True, markup=False)
        return
    looks = list_looks()
    width = max((len(look.name) for look in looks), default=0)
    for look in looks:
        out_console.print(f"{look.name:<{width}}  {look.description}", soft_wrap=True, markup=False)


def _lens_text(look) -> str:
    parts = []
    if look.focal_length_mm is not None:
        parts.append(f"{look.focal_length_mm:g} mm")
    if look.f_number is not None:
        parts.append(f"f/{look.f_number:g}")
    return " ".join(parts) or "no suggestion"

"""Aperture options shared by `render` and `kernels`, defined once (spaCy's `_util.py` habit).

Use them as ``aperture: ApertureOpt = None`` ... and turn the values into an
:class:`~bokehsim.aperture.Aperture` with :func:`bokehsim.looks.resolve_aperture`.
"""

from __future__ import annotations

from typing import Annotated

import typer

_LOOK = "Look"

ApertureOpt = Annotated[
    str | None,
    typer.Option(
        "--aperture",
        help=(
            "Aperture shape NAME[:key=value,...]: circle, blades:n=7,rotation=15,curvature=0.3, "
            "oval:aspect=1.5,angle=30, anamorphic:squeeze=2, cat-eye:strength=0.6, swirl:strength=0.6, "
            "mirror:obstruction=0.45, image:path=star.png. Combine with modifiers, e.g. "
            "anamorphic:squeeze=2,blades=7,cat_eye=0.5. Replaces the --look's shape."
        ),
        rich_help_panel=_LOOK,
    ),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help=(
            "Radial profile NAME[:key=value,...]: flat, soap-bubble:strength=0.5 (rim/centre = 1 + 2 strength), "
            "soft:strength=0.5 (centre/edge = 1 + 2 strength), onion:strength=0.3,rings=4. Replaces the --look's profile."
        ),
        rich_help_panel=_LOOK,
    ),
]
LookOpt = Annotated[
    str | None,
    typer.Option(
        "--look",
        help="A named lens look (see `bokehsim looks`) or the path to your own look .toml file.",
        rich_help_panel=_LOOK,
    ),
]
SaSignOpt = Annotated[
    int | None,
    typer.Option(
        "--sa-sign",
        help=(
            "Spherical aberration: +1 under-corrected (soft background, bright-rimmed foreground), "
            "-1 over-corrected (soap-bubble background, soft foreground), 0 none."
        ),
        rich_help_panel=_LOOK,
    ),
]

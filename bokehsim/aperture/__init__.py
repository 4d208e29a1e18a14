"""Aperture looks: shapes as span tables, radial profiles, and optical vignetting (cat-eye, swirl).

A kernel is the image of the aperture scaled so its circumscribed diameter equals |c| and
normalised to sum to 1 (CONVENTIONS, "Aperture shapes"). bokehsim stores a shape once, in units of
its circumscribed radius, as horizontal *runs* per table row (see docs/architecture.md): the
scatter turns each run of each output row into two signed entries of a difference buffer, so the
cost per pixel grows with the radius, not its square.

Frame: x to the right, y *down* (like image rows); (0, 0) is the kernel centre; the circumscribed
circle (or, for oval and anamorphic shapes, ellipse) has radius 1. User angles (``rotation``,
``angle``) turn counter-clockwise on screen.

Spec grammar (the same names and keys in ``--aperture``, :func:`make_aperture` and look files)::

    NAME[:key=value,...]       e.g.  blades:n=7,rotation=15,curvature=0.3
                                     anamorphic:squeeze=2,blades=7,cat_eye=0.5
                                     image:levels=4,path=star.png   (path= last: it takes the rest)

Every NAME takes its own keys plus the *modifiers* (``blades rotation curvature squeeze aspect
angle cat_eye swirl start obstruction chromatic``), so shapes, stretches and vignetting combine.
Profiles: ``--profile NAME[:key=value,...]`` with NAME in ``flat soap-bubble soft onion``.

Modules, one idea each:

- :mod:`.aperture`: the :class:`Aperture` (configuration), :func:`make_aperture`,
  :func:`parse_aperture`, and the table it draws for each side of the focus plane.
- :mod:`.grammar`: names, keys, defaults and ranges of the spec; parsing of values.
- :mod:`.profile`: the radial :class:`Profile` and the spherical-aberration staircase.
- :mod:`.shapes`: convex shapes (circle, straight or rounded blades) as exact quadratic
  constraints, and the stretch of oval and anamorphic apertures.
- :mod:`.image`: a grayscale picture as the aperture.
- :mod:`.tables`: the :class:`SpanTable` and its builders (from runs, an inside-test, a mask).
- :mod:`.vignetting`: where each pixel's clipping ellipse sits, and its quadratic form.

Every public name is importable from ``bokehsim.aperture`` itself.
"""

from .aperture import Aperture, make_aperture, parse_aperture
from .grammar import APERTURE_NAMES, MODIFIER_KEYS, aperture_keys
from .image import MAX_IMAGE_RUNS
from .profile import PROFILE_LEVELS, PROFILE_NAMES, Profile, make_profile, parse_profile
from .tables import TABLE_COLS, TABLE_ROWS, SpanTable, circle_table, row_centres, table_from_inside, table_from_runs
from .vignetting import cat_eye_offsets, ellipse_quadratic_form, kernel_placement, vignetting_offsets

__all__ = [
    "APERTURE_NAMES", "MAX_IMAGE_RUNS", "MODIFIER_KEYS", "PROFILE_LEVELS", "PROFILE_NAMES", "TABLE_COLS", "TABLE_ROWS",
    "Aperture", "Profile", "SpanTable", "aperture_keys", "cat_eye_offsets", "circle_table", "ellipse_quadratic_form",
    "kernel_placement", "make_aperture", "make_profile", "parse_aperture", "parse_profile", "row_centres",
    "table_from_inside", "table_from_runs", "vignetting_offsets",
]

"""Ground truth for bokehsim: physically rendered depth of field from analytic scenes (Mitsuba 3).

``pip install "bokehsim[groundtruth]"``; Mitsuba is imported only when something renders, so the rest
of bokehsim (and ``bokehsim groundtruth --help``) works without it. See ``docs/groundtruth.md``.

Modules: :mod:`.scene` (TOML scene files), :mod:`.looks` (aperture looks), :mod:`.textures`
(procedural textures), :mod:`.builder` (Mitsuba scene and cameras), :mod:`.depth` (ray distance to
z-depth), :mod:`.renderers` (pinhole, thin-lens and accumulated renders), :mod:`.generate` (one
scene into its output folder).
"""

from .generate import Settings, generate, is_done, planned_ticks
from .looks import parse_look
from .scene import Scene, Shot, load_scene

__all__ = ["Scene", "Settings", "Shot", "generate", "is_done", "load_scene", "parse_look", "planned_ticks"]

"""bokehsim: physically sized, occlusion-correct depth of field from an image and a depth map.

>>> import torch
>>> from bokehsim import Lens, render
>>> lens = Lens(focal_length_mm=85, f_number=1.8, focus_distance_m=2.0, sensor_width_mm=36)
>>> out = render(torch.rand(3, 64, 96), torch.full((64, 96), 5.0), lens)
"""

__version__ = "0.1.0"

from .aperture import Aperture, parse_aperture
from .diagnosis import diagnose
from .errors import InputError
from .lens import Lens, coc_px
from .repair import FixResult, fix
from .render import render, render_full

__all__ = [
    "Aperture", "FixResult", "InputError", "Lens", "coc_px", "diagnose", "fix", "parse_aperture", "render", "render_full",
    "__version__",
]

"""Diagnose the depth of field of an image: is its blur what the shot's lens and depth give?

Public: :func:`diagnose` (also ``bokehsim.diagnose``) and its :class:`Report`;
:func:`estimate_defocus` (the measured blur, from the image alone); :data:`SIGN_NAMES`.
"""

from .defocus import DefocusEstimate, estimate_defocus
from .diagnose import diagnose
from .report import Report
from .signs import SIGN_NAMES, SignResult

__all__ = ["SIGN_NAMES", "DefocusEstimate", "Report", "SignResult", "diagnose", "estimate_defocus"]

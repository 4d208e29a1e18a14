"""Diagnose the depth of field of an image: is its blur what the shot's lens and depth give?

Public: :func:`estimate_defocus` (measured blur from the image alone).
"""

from .defocus import DefocusEstimate, estimate_defocus

__all__ = ["DefocusEstimate", "estimate_defocus"]

"""Imports every command module so each registers itself on the shared app."""

from . import diagnose, fix, focus, groundtruth, kernels, looks, render  # noqa: F401

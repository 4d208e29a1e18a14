"""Imports every command module so each registers itself on the shared app."""

from . import diagnose, fix, focus, groundtruth, kernels, looks, notebook, prompt, pull, render  # noqa: F401

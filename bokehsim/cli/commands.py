"""Imports every command module so each registers itself on the shared app."""

from . import focus, groundtruth, kernels, looks, notebook, prompt, render  # noqa: F401

"""Imports every command module so each registers itself on the shared app."""

from . import focus, kernels, looks, render  # noqa: F401

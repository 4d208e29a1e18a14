"""Imports every command module so each registers itself on the shared app."""

from . import focus, render  # noqa: F401

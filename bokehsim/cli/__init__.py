"""bokehsim's command line: `bokehsim render`, `focus`, `looks`, `kernels`, `groundtruth`."""

from ._app import app, main
from . import commands  # noqa: F401  (registers the commands)

__all__ = ["app", "main"]

"""`python -m bokehsim ...` runs the command line, like the `bokehsim` script."""

from .cli import main

main()

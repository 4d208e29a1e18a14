"""The one exception type for bad user input.

Every public entry point raises :class:`InputError` with a single line that names the argument or
file, what was expected and what was found. The CLI turns it into that line and exit code 2.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: a file, an argument or a combination of them.

    The message is one line, starting with the file or argument it is about.
    """

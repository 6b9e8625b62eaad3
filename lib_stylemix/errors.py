"""Errors a user can act on.

Every failure caused by bad input (a corrupt file, a wrong path, an impossible setting) is raised as a
`StyleMixError` with a message that names the thing and the problem, so the CLI can print it as one line
(exit code 1) and the UI can show it without a traceback. Anything else is a bug.
"""

from __future__ import annotations


class StyleMixError(Exception):
    """A problem with the user's input or environment, described for the user."""


class CancelledError(StyleMixError):
    """The user asked to stop; work done so far is kept and nothing partial is left behind."""

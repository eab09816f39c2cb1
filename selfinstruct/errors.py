"""Errors the user can act on.

Library code raises :class:`UserError` for anything caused by input, configuration or the
environment (a broken file, a missing key, an unreachable server). The CLI prints the message as
one line and exits with status 2, never with a traceback.
"""


class UserError(Exception):
    """A problem the user can fix; the message says what and, where possible, how."""

"""User-facing errors: one clear line that says what to do, never a traceback."""


class DrarlError(Exception):
    """An error caused by user input (flag, game name, path, file) with a one-line message.

    Scripts catch it, print `error: <message>` and exit with code 2.
    """

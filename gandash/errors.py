"""One base for every error a user can cause: the CLI prints it as one line, the pages show it in one helper."""


class GandashError(ValueError):
    """Bad input or a refused action, with a message meant for the user (no traceback)."""

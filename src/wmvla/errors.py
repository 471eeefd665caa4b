"""The project's expected failures.

Why a common base: bad config, bad data or an offline machine are the user's to fix; the CLI prints
their message as one clear line (exit code 2), while any other exception keeps its traceback.
"""


class WmvlaError(Exception):
    """An expected failure whose message tells the user what to change."""


class OutputExistsError(WmvlaError, FileExistsError):
    """A step refuses to overwrite a finished artifact."""

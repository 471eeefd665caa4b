"""The project's expected failures.

Why a common base: bad config, bad data or an offline machine are the user's to fix; the CLI prints
their message as one clear line (exit code 2), while any other exception keeps its traceback.
"""

import logging
from collections.abc import Callable


class WmvlaError(Exception):
    """An expected failure whose message tells the user what to change."""


class OutputExistsError(WmvlaError, FileExistsError):
    """A step refuses to overwrite a finished artifact."""


def exit_status(body: Callable[[], object], log: logging.Logger) -> int:
    """Run a command's body; an expected failure becomes one logged line and exit status 2."""
    try:
        body()
    except WmvlaError as err:
        log.debug("details", exc_info=True)
        log.error("%s", err)
        return 2
    return 0

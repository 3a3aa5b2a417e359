"""Progress callbacks from Python (internal).

A Python ``progress(fraction)`` callable is called with the fraction of work done; returning
``False`` cancels (the call raises :class:`ntk.CancelledError`); an exception raised inside it
cancels too and is re-raised from the library call, so a ``KeyboardInterrupt`` works.
"""

from ._library import PROGRESS_FN, raise_for_status
from .errors import InvalidArgumentError


class Callback:
    """Wraps an optional Python callable as the C callback argument pair."""

    def __init__(self, progress):
        self.error = None
        if progress is None:
            self.c_function = PROGRESS_FN()  # NULL
            return
        if not callable(progress):
            raise InvalidArgumentError(f"progress must be callable or None, got {progress!r}")

        def trampoline(_user, fraction):
            try:
                return 1 if progress(fraction) is False else 0
            except BaseException as e:  # noqa: BLE001 - re-raised after the C call returns
                self.error = e
                return 1

        self.c_function = PROGRESS_FN(trampoline)

    def check(self, status):
        """Re-raises the callback's own exception first, else the library's."""
        if self.error is not None:
            raise self.error
        raise_for_status(status)

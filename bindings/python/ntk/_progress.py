"""Progress callbacks from Python (internal).

A Python ``progress(fraction)`` callable is called with the fraction of work done. It answers
"go on?": returning ``None`` (no return statement) or a truthy value goes on; returning any other
falsy value (``False``, ``0``, ``numpy.False_``) cancels, and the call raises
:class:`ntk.CancelledError`. An exception raised inside it cancels too and is re-raised from the
library call, so a ``KeyboardInterrupt`` works. The training ``callback(epoch, loss)`` follows
the same rule, stopping training instead of cancelling it. (The C callbacks return non-zero to
cancel; Swift's ``ProgressHandler`` answers ``.proceed`` or ``.cancel``.)
"""

from ._library import PROGRESS_FN, raise_for_status
from .errors import InvalidArgumentError


def wants_cancel(answer):
    """Whether a callback's return value asks to stop: any falsy value except None."""
    return answer is not None and not answer


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
                return 1 if wants_cancel(progress(fraction)) else 0
            except BaseException as e:  # noqa: BLE001 - re-raised after the C call returns
                self.error = e
                return 1

        self.c_function = PROGRESS_FN(trampoline)

    def check(self, status):
        """Re-raises the callback's own exception first, else the library's."""
        if self.error is not None:
            raise self.error
        raise_for_status(status)

"""Progress, progress bars and Ctrl-C for library calls (internal).

Every call that can run long goes through :meth:`Callback.call`, which

- keeps Ctrl-C working: while the library runs, SIGINT only sets a flag (Python cannot raise
  inside a ctypes callback: an exception raised on entry is lost), the next progress report
  sees it and cancels, the library frees what it allocated and returns, and then the
  previous SIGINT handler runs, so the usual ``KeyboardInterrupt`` is raised (or whatever
  handler the program installed). Long routines report at least every ~0.1 s; the one
  exception is LAPACK's eigensolver (see the README, "Long computations");
- shows a progress bar for ``progress=True``: ``tqdm.auto`` when tqdm is installed (a widget
  in notebooks), else a one-line bar on stderr with rate and time left;
- passes the fraction done to a ``progress(fraction)`` callable. It answers "go on?":
  ``None`` (no return statement) or a truthy value goes on; any other falsy value
  (``False``, ``0``, ``numpy.False_``) cancels and the call raises :class:`ntk.CancelledError`.
  An exception raised inside it cancels too and is re-raised from the library call.

The training ``callback(epoch, loss)`` follows the same rule, stopping training instead of
cancelling it. (The C callbacks return non-zero to cancel; Swift's ``ProgressHandler``
answers ``.proceed`` or ``.cancel``.) SIGINT is deferred only on the main thread (the only
one Python delivers it to) and only when its handler is a Python callable.
"""

import contextlib
import signal
import sys
import threading
import time

from ._library import PROGRESS_FN, python_entry_point, raise_for_status
from .errors import InvalidArgumentError


def wants_cancel(answer):
    """Whether a callback's return value asks to stop: any falsy value except None."""
    return answer is not None and not answer


class Interrupt:
    """Whether SIGINT arrived while the library ran (set by :func:`deferred_sigint`)."""

    def __init__(self):
        self.pending = False


@contextlib.contextmanager
def deferred_sigint():
    """Within the block SIGINT sets ``Interrupt.pending`` instead of raising; on leaving, a
    pending SIGINT is handed to the previous handler (by default: ``KeyboardInterrupt``)."""
    interrupt = Interrupt()
    previous = None
    if threading.current_thread() is threading.main_thread():
        try:
            current = signal.getsignal(signal.SIGINT)
            if callable(current):
                previous = current
                signal.signal(signal.SIGINT, lambda _signum, frame: setattr(interrupt, "pending", frame or True))
        except (ValueError, OSError):  # no signals here (embedded interpreter, ...)
            previous = None
    try:
        yield interrupt
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
            if interrupt.pending:
                frame = interrupt.pending if interrupt.pending is not True else sys._getframe()
                previous(signal.SIGINT, frame)


class Bar:
    """A progress bar for fractions in [0, 1]: tqdm.auto when installed, else stderr."""

    def __init__(self, description, stream=None):
        self.description = description
        self.stream = stream
        self.bar = None
        self.start = None
        self.drawn = 0.0
        self.drawn_fraction = None
        self.fraction = 0.0

    def update(self, fraction):
        fraction = min(max(float(fraction), 0.0), 1.0)
        now = time.monotonic()
        if self.start is None:
            self.start = now
            self.bar = self._tqdm()
        if self.bar is not None:
            self.bar.update(fraction - self.bar.n)
        elif fraction >= 1.0 or now - self.drawn >= 0.1:
            self._draw(fraction, now)
        self.fraction = fraction

    def close(self):
        if self.start is None:
            return
        if self.bar is not None:
            self.bar.close()
        else:
            if self.drawn_fraction != self.fraction:
                self._draw(self.fraction, time.monotonic())
            (self.stream or sys.stderr).write("\n")
        self.start = None

    def _tqdm(self):
        if self.stream is not None:
            return None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return None
        return tqdm(total=1.0, desc=self.description, leave=True,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}, {rate_fmt}]",
                    unit_scale=100, unit="%")

    def _draw(self, fraction, now):
        self.drawn, self.drawn_fraction = now, fraction
        elapsed = now - self.start
        width = 30
        full = int(round(fraction * width))
        rate = 100 * fraction / elapsed if elapsed > 0 else 0.0
        left = elapsed * (1 - fraction) / fraction if fraction > 0 else float("inf")
        text = (f"\r{self.description}: {100 * fraction:3.0f}% |{'#' * full}{'-' * (width - full)}| "
                f"{_duration(elapsed)} elapsed, {_duration(left)} left, {rate:.1f} %/s")
        stream = self.stream or sys.stderr
        stream.write(text)
        stream.flush()


def _duration(seconds):
    if seconds == float("inf"):
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(seconds), 60)
    return f"{minutes}:{s:02d} min" if minutes < 60 else f"{minutes // 60}:{minutes % 60:02d}:{s:02d} h"


class Callback:
    """A call's progress argument, as the C callback pair plus Ctrl-C handling.

    ``progress`` is None or False (no reporting; Ctrl-C still works), True (a bar named
    after the function called), a :class:`Bar`, or a callable ``progress(fraction)``.
    """

    def __init__(self, progress, description=None):
        self.error = None
        self.interrupt = Interrupt()
        if progress is None or progress is False:
            report, self.bar = None, None
        elif progress is True or isinstance(progress, Bar):
            self.bar = progress if isinstance(progress, Bar) else Bar(description or python_entry_point() or "ntk")
            report = self.bar.update
        elif callable(progress):
            report, self.bar = progress, None
        else:
            raise InvalidArgumentError(f"progress must be None, True, False or a callable, got {progress!r}")

        self.report = report
        self.c_function = PROGRESS_FN(lambda _user, fraction: self.answer(fraction))

    def answer(self, fraction):
        """The C callback's answer for a report: 1 (stop) after Ctrl-C, a falsy answer or an
        exception of the reporter (kept for :meth:`check`), else 0."""
        if self.interrupt.pending or self.error is not None:
            return 1
        if self.report is None:
            return 0
        try:
            return 1 if wants_cancel(self.report(fraction)) else 0
        except BaseException as e:  # noqa: BLE001 - re-raised after the C call returns
            self.error = e
            return 1

    def call(self, function, *args):
        """Runs ``function(*args)`` (a library call with this callback among its arguments)
        with SIGINT deferred, then raises the callback's exception, a ``KeyboardInterrupt``,
        or the library's error for a non-zero status."""
        try:
            with deferred_sigint() as self.interrupt:
                status = function(*args)
        finally:
            if self.bar is not None:
                self.bar.close()
        self.check(status)

    def check(self, status):
        """Re-raises the callback's own exception first, else the library's."""
        if self.error is not None:
            raise self.error
        raise_for_status(status)

"""Base class of the Python objects that own a library handle (internal)."""

from ._library import lib
from .errors import InvalidHandleError


class Handle:
    """Owns one library handle: freed by :meth:`close`, by ``with``, or by garbage collection.

    Subclasses set ``_free`` to the name of the C function that frees their handle type.
    Read-only methods may be called from several threads at once.
    """

    _free = None
    _handle = None

    def _live(self):
        if self._handle is None:
            raise InvalidHandleError(f"this {type(self).__name__} is closed")
        return self._handle

    def close(self):
        """Frees the library object now; later use raises InvalidHandleError. Idempotent."""
        handle, self._handle = self._handle, None
        if handle is not None and lib is not None:
            getattr(lib, self._free)(handle)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

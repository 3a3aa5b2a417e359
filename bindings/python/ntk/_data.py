"""A problem's data as the C library's descriptors (internal): one way to marshal kernels,
targets (``ntk_targets``: Y and its offsets f0) and test kernels (``ntk_test_kernel``) for every
module. The numpy arrays are kept alive with the descriptors that point into them."""

import ctypes

from . import _arrays
from ._library import Grid, Targets, TestKernel
from .errors import DimensionMismatchError, InvalidArgumentError


def square(K, name, n=None):
    """``(array, pointer, ld)`` of a square matrix (of order n when given)."""
    k, pk, ldk, _ = _arrays.matrix(K, name)
    if k.shape[0] != k.shape[1] or (n is not None and k.shape[0] != n):
        want = "square" if n is None else f"({n}, {n})"
        raise DimensionMismatchError(f"{name} must be {want}, got shape {k.shape}")
    return k, pk, ldk


def test_matrix(K_test_train, n):
    """``(array, pointer, ld, m)`` of a test kernel K_test_train (m, n); ``(None, NULL, 1, 0)`` for None."""
    if K_test_train is None:
        return None, _arrays.NULL, 1, 0
    kt, pkt, ldkt, _ = _arrays.matrix(K_test_train, "K_test_train")
    if kt.shape[1] != n:
        raise DimensionMismatchError(f"K_test_train must have {n} columns (training points), got shape {kt.shape}")
    return kt, pkt, ldkt, kt.shape[0]


class TargetData:
    """Y (n, k) — or (n,), taken as (n, 1) — and optional offsets f0_train of the same shape, as
    an ``ntk_targets`` (``c``). ``against`` names what fixes n in the messages (``"K_train"``,
    ``"X"``); ``outputs`` requires k (a network's output dimension).

    Attributes: ``y`` (n, k) float64, ``f0`` (or None), ``k``, ``was_vector``, ``c``."""

    def __init__(self, Y, n, against, f0_train=None, outputs=None):
        self.y, py, ldy, self.was_vector = _arrays.matrix(Y, "Y", vector_ok=True)
        if outputs is not None and self.y.shape != (n, outputs):
            raise DimensionMismatchError(f"Y must have shape ({n}, {outputs}), got {self.y.shape}")
        if self.y.shape[0] != n:
            raise DimensionMismatchError(f"Y has {self.y.shape[0]} rows but {against} has {n}")
        self.k = self.y.shape[1]
        self.f0, pf0, ldf0 = _arrays.optional_matrix(f0_train, "f0_train", self.y.shape)
        self.c = Targets(self.k, py, ldy, pf0, ldf0)

    def shape(self, a):
        """``a`` without its output axis when Y was 1-D (None stays None)."""
        return a if a is None or not self.was_vector else a[..., 0]


class Problem(TargetData):
    """A regression on n training points: the targets (``c``, an ``ntk_targets``) and an
    optional test kernel K_test_train (m, n) with offsets f0_test (``test``, an
    ``ntk_test_kernel``, or None)."""

    def __init__(self, n, Y, f0_train=None, K_test_train=None, f0_test=None):
        super().__init__(Y, n, "K_train", f0_train)
        self.kt, pkt, ldkt, self.m = test_matrix(K_test_train, n)
        self.test = None
        if self.kt is None:
            if f0_test is not None:
                raise InvalidArgumentError("f0_test needs K_test_train")
            return
        self.f0_test, pf0t, ldf0t = _arrays.optional_matrix(f0_test, "f0_test", (self.m, self.k))
        self.test = TestKernel(self.m, pkt, ldkt, pf0t, ldf0t)

    def test_pointer(self):
        """``const ntk_test_kernel *`` (NULL without a test kernel)."""
        return None if self.test is None else ctypes.byref(self.test)


def make_grid(times, ridges, learning_rate):
    """An ``ntk_grid`` over float64 vectors ``times`` and ``ridges`` of one length (None: all inf,
    all 0; at least one given); the caller keeps the vectors alive while the grid is used."""
    count = len(times) if times is not None else len(ridges)
    return Grid(count, _arrays.NULL if times is None else _arrays.pointer(times),
                _arrays.NULL if ridges is None else _arrays.pointer(ridges),
                _arrays.scalar(learning_rate, "learning_rate"))

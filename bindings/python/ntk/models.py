"""The tangent kernel of any model: libntk's kernels and solvers on a model known only by its
Jacobian-vector products (docs/models.md).

A :class:`Model` is f(x; theta) with P parameters and k outputs at fixed parameters, given by

- ``jvp(X, V)``: for tangents V (r, P), ``J(x_i) v_j`` for every row x_i of X, shape (r, n, k);
- ``vjp(X, U)``: for cotangents U (r, n, k), ``sum_i J(x_i)^T u_j[i]``, shape (r, P);
- ``model(X)``: f(X), shape (n, k) (optional: for offsets and the after-kernel predictors);
- ``jacobian(X)``: J(x_i) for every row, shape (n, k, P) (optional: faster dense kernels).

Every function that takes a network takes a model too — :func:`ntk.empirical_ntk`,
:func:`ntk.empirical_ntk_diagonal`, :class:`ntk.EmpiricalNTKRidge`,
:func:`ntk.empirical_gradient_flow`, :func:`ntk.after_kernel_predictions`, and
``NTKRegressor(kernel="empirical", network=model)`` — with the same conventions as for libntk's
own MLP (the sum over all P parameters, the mean over outputs). The library calls the products
on blocks of at most ``block_rows`` rows; X is whatever the model takes (images n x H x W x C,
sequences, ...): libntk only counts its rows.

Adapters: :func:`from_jax` (``jax.jvp``/``jax.vjp``, jit-compiled; float64 when JAX's x64 mode is
on) and :func:`from_torch` (``torch.func``); :func:`from_functions` wraps plain callables.
A product that raises stops the library call, which re-raises that exception (nothing leaks;
fitted objects stay usable).
"""

import ctypes
import threading

import numpy as np

from ._handle import Handle
from ._library import MODEL_PRODUCT_FN, MODEL_ROWS_FN, ModelCallbacks, lib, raise_for_status
from .errors import CallbackError, DimensionMismatchError, InvalidArgumentError

__all__ = ["Model", "from_functions", "from_jax", "from_torch"]


class Model:
    """A model seen through its Jacobian products (subclass it, or use an adapter).

    Subclasses set ``n_params`` and ``output_dim`` (or determine them in :meth:`prepare`) and
    implement :meth:`jvp` and :meth:`vjp`; ``__call__`` and :meth:`jacobian` are optional
    (``has_forward`` / ``has_jacobian`` say whether they exist).

    Attributes
    ----------
    n_params : int
        P.
    output_dim : int
        k.
    block_rows : int
        The most rows per call (default 256).
    """

    n_params = None
    output_dim = None
    block_rows = 256
    has_forward = False
    has_jacobian = False

    def prepare(self, X):
        """Called with the data before each library call (e.g. to infer ``output_dim``).

        Parameters
        ----------
        X : array_like, (n, ...)
        """

    def jvp(self, X, V):
        """Jacobian-vector products ``J(x_i) v_j``.

        Parameters
        ----------
        X : array_like, (n, ...)
            At most ``block_rows`` rows.
        V : numpy.ndarray, (r, P)
            Tangents.

        Returns
        -------
        array_like, (r, n, k)
        """
        raise NotImplementedError

    def vjp(self, X, U):
        """Vector-Jacobian products ``sum_i J(x_i)^T u_j[i]``.

        Parameters
        ----------
        X : array_like, (n, ...)
            At most ``block_rows`` rows.
        U : numpy.ndarray, (r, n, k)
            Cotangents.

        Returns
        -------
        array_like, (r, P)
        """
        raise NotImplementedError

    def __call__(self, X):
        raise InvalidArgumentError(f"{type(self).__name__} has no forward pass")

    def jacobian(self, X):
        """The Jacobian ``J(x_i)`` of every row (optional; ``has_jacobian`` says whether it exists).

        Parameters
        ----------
        X : array_like, (n, ...)

        Returns
        -------
        array_like, (n, k, P)
        """
        raise InvalidArgumentError(f"{type(self).__name__} has no Jacobian")

    def __deepcopy__(self, memo):
        # A model at fixed parameters is immutable from libntk's side: copies share it (so that
        # scikit-learn's clone works on estimators that hold one).
        return self

    def __repr__(self):
        return f"{type(self).__name__}(n_params={self.n_params}, output_dim={self.output_dim})"


class _FunctionModel(Model):
    def __init__(self, jvp, vjp, n_params, output_dim, forward, jacobian, block_rows):
        self._jvp, self._vjp, self._forward, self._jacobian = jvp, vjp, forward, jacobian
        self.n_params, self.output_dim, self.block_rows = n_params, output_dim, block_rows
        self.has_forward, self.has_jacobian = forward is not None, jacobian is not None

    def jvp(self, X, V):
        return self._jvp(X, V)

    def vjp(self, X, U):
        return self._vjp(X, U)

    def __call__(self, X):
        if self._forward is None:
            return super().__call__(X)
        return self._forward(X)

    def jacobian(self, X):
        if self._jacobian is None:
            return super().jacobian(X)
        return self._jacobian(X)


def from_functions(jvp, vjp, n_params, output_dim=1, forward=None, jacobian=None, block_rows=256):
    """A :class:`Model` from plain callables.

    Parameters
    ----------
    jvp : callable ``(X, V) -> (r, n, k)``
    vjp : callable ``(X, U) -> (r, P)``
    n_params : int
        P.
    output_dim : int
        k.
    forward : callable ``X -> (n, k)``, optional
    jacobian : callable ``X -> (n, k, P)``, optional
    block_rows : int
        The most rows per call.
    """
    model = _FunctionModel(jvp, vjp, n_params, output_dim, forward, jacobian, block_rows)
    _check_sizes(model)
    return model


def _check_sizes(model):
    for name in ("n_params", "output_dim", "block_rows"):
        value = getattr(model, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidArgumentError(f"the model's {name} must be an integer >= 1, got {value!r}")


def _padded(X, rows):
    """X with its last row repeated up to ``rows`` rows (one compiled shape per block size)."""
    if len(X) == rows:
        return X
    return np.concatenate([X, np.repeat(X[-1:], rows - len(X), axis=0)])


class _JaxModel(Model):
    has_forward = True
    has_jacobian = True

    def __init__(self, apply_fn, params, block_rows):
        import jax
        from jax.flatten_util import ravel_pytree

        self._jax = jax
        self._theta, unravel = ravel_pytree(params)
        self.dtype = np.dtype(self._theta.dtype)
        self.n_params, self.block_rows = int(self._theta.size), block_rows

        def f(theta, x):
            out = apply_fn(unravel(theta), x)
            return out.reshape(x.shape[0], -1)

        self._f = f
        self._forward = jax.jit(f)
        self._jvp = jax.jit(lambda theta, x, V: jax.vmap(lambda v: jax.jvp(lambda t: f(t, x), (theta,), (v,))[1])(V))
        self._vjp = jax.jit(lambda theta, x, U: jax.vmap(jax.vjp(lambda t: f(t, x), theta)[1])(U)[0])
        self._jacobian = jax.jit(lambda theta, x: jax.vmap(
            lambda xi: jax.jacrev(lambda t: f(t, xi[None])[0])(theta))(x))

    def prepare(self, X):
        if self.output_dim is None:
            shape = self._jax.eval_shape(self._f, self._theta, np.asarray(X[:1], dtype=self.dtype))
            self.output_dim = int(shape.shape[1])

    def _x(self, X):
        """X in the parameters' dtype, padded to the next power of two (at least 8, at most
        ``block_rows``): few compiled shapes, at most twice the rows."""
        n = len(X)
        rows = n if n >= self.block_rows else min(self.block_rows, max(8, 1 << (n - 1).bit_length()))
        return _padded(np.asarray(X, dtype=self.dtype), rows)

    def jvp(self, X, V):
        n = len(X)
        return np.asarray(self._jvp(self._theta, self._x(X), np.asarray(V, dtype=self.dtype)))[:, :n]

    def vjp(self, X, U):
        n = len(X)
        x = self._x(X)
        u = np.zeros((U.shape[0], len(x), U.shape[2]), dtype=self.dtype)
        u[:, :n] = U
        return np.asarray(self._vjp(self._theta, x, u))

    def __call__(self, X):
        self.prepare(X)
        blocks = [X[i:i + self.block_rows] for i in range(0, len(X), self.block_rows)]
        outputs = [np.asarray(self._forward(self._theta, self._x(b)))[:len(b)] for b in blocks]
        return np.concatenate(outputs).astype(np.float64) if outputs else np.empty((0, self.output_dim))

    def jacobian(self, X):
        n = len(X)
        return np.asarray(self._jacobian(self._theta, self._x(X)))[:n]


def from_jax(apply_fn, params, block_rows=256):
    """A :class:`Model` of a JAX function ``apply_fn(params, x)`` (Flax's and neural-tangents'
    convention) at ``params``, any pytree of arrays.

    The products are ``jax.jvp`` and ``jax.vjp`` vmapped over the vectors, and the Jacobian
    ``vmap(jacrev)`` over the rows, each jit-compiled once per block shape (blocks are padded to
    ``block_rows`` rows). The output is reshaped to (n, k). The arithmetic runs in the dtype of
    ``params``: float64 needs ``jax.config.update("jax_enable_x64", True)`` before the parameters
    are made; float32 parameters give float32 products (the library still accumulates in float64).

    Parameters
    ----------
    apply_fn : callable ``(params, x) -> (n, ...)``
    params : pytree
    block_rows : int
        Rows per compiled call (memory of the vmapped products grows with it).
    """
    try:
        import jax  # noqa: F401
    except ImportError:
        raise ImportError("ntk.models.from_jax needs JAX: pip install jax") from None
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)) or block_rows < 1:
        raise InvalidArgumentError(f"block_rows must be an integer >= 1, got {block_rows!r}")
    return _JaxModel(apply_fn, params, int(block_rows))


class _TorchModel(Model):
    has_forward = True
    has_jacobian = True

    def __init__(self, module, block_rows):
        import torch
        from torch.func import functional_call, jacrev, jvp, vjp, vmap

        self._torch = torch
        named = [(name, p) for name, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise InvalidArgumentError("the module has no trainable parameters")
        names = [name for name, _ in named]
        shapes = [p.shape for _, p in named]
        sizes = [p.numel() for _, p in named]
        self.dtype = named[0][1].dtype
        self._theta = torch.cat([p.detach().reshape(-1) for _, p in named])
        buffers = dict(module.named_buffers())
        self.n_params, self.block_rows = int(self._theta.numel()), block_rows

        def f(theta, x):
            params = dict(zip(names, (t.reshape(s) for t, s in zip(torch.split(theta, sizes), shapes))))
            out = functional_call(module, (params, buffers), (x,))
            return out.reshape(x.shape[0], -1)

        self._f = f
        self._jvp = lambda x, V: vmap(lambda v: jvp(lambda t: f(t, x), (self._theta,), (v,))[1])(V)
        self._vjp = lambda x, U: vmap(vjp(lambda t: f(t, x), self._theta)[1])(U)[0]
        self._jacobian = lambda x: vmap(jacrev(lambda t, xi: f(t, xi.unsqueeze(0))[0]), in_dims=(None, 0))(
            self._theta, x)

    def _tensor(self, a):
        return self._torch.from_numpy(np.ascontiguousarray(a)).to(self.dtype)

    def prepare(self, X):
        if self.output_dim is None:
            with self._torch.no_grad():
                self.output_dim = int(self._f(self._theta, self._tensor(X[:1])).shape[1])

    def jvp(self, X, V):
        return self._jvp(self._tensor(X), self._tensor(V)).detach().numpy()

    def vjp(self, X, U):
        return self._vjp(self._tensor(X), self._tensor(U)).detach().numpy()

    def __call__(self, X):
        with self._torch.no_grad():
            self.prepare(X)
            return self._f(self._theta, self._tensor(np.asarray(X))).numpy().astype(np.float64)

    def jacobian(self, X):
        return self._jacobian(self._tensor(X)).detach().numpy()


def from_torch(module, block_rows=256):
    """A :class:`Model` of a ``torch.nn.Module`` at its current parameters (those with
    ``requires_grad``), by ``torch.func`` (``functional_call``, ``jvp``, ``vjp``, ``jacrev``,
    ``vmap``).

    The module runs as it is (call ``module.eval()`` first for dropout or batch norm) in the
    dtype of its parameters (``module.double()`` for float64). Inputs reach torch without a copy
    when they are C-contiguous in that dtype; outputs are copied once into the library's buffers.

    Parameters
    ----------
    module : torch.nn.Module
    block_rows : int
    """
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ImportError("ntk.models.from_torch needs PyTorch: pip install torch") from None
    if isinstance(block_rows, bool) or not isinstance(block_rows, (int, np.integer)) or block_rows < 1:
        raise InvalidArgumentError(f"block_rows must be an integer >= 1, got {block_rows!r}")
    return _TorchModel(module, int(block_rows))


# ---------------------------------------------------------------------------------------------
# The binding: a model and the data its row indices refer to, as an ntk_model handle.


class Binding(Handle):
    """An ``ntk_model`` handle for a :class:`Model` on data: row indices are positions in the
    concatenation of the arrays added by :meth:`add`. The callbacks keep the first exception a
    product raises (:attr:`error`) and return 1, which stops the library call with
    ``NTK_ERR_CALLBACK``; :meth:`run` then re-raises it.

    Parameters
    ----------
    model : Model
    X : array_like
        The first data (for :meth:`Model.prepare`); rows are added with :meth:`add`.
    """

    _free = "ntk_model_free"

    def __init__(self, model, X):
        if not isinstance(model, Model):
            raise InvalidArgumentError(f"expected an ntk.models.Model, got {type(model).__name__}")
        model.prepare(X)
        _check_sizes(model)
        self.model, self.error, self._cb = model, None, None
        self._segments, self._lock = [], threading.Lock()
        self._p, self._k = model.n_params, model.output_dim
        self._functions = (MODEL_PRODUCT_FN(self._jvp), MODEL_PRODUCT_FN(self._vjp),
                           MODEL_ROWS_FN(self._forward) if model.has_forward else MODEL_ROWS_FN(),
                           MODEL_ROWS_FN(self._jacobian) if model.has_jacobian else MODEL_ROWS_FN())
        callbacks = ModelCallbacks(n_params=self._p, k=self._k, jvp=self._functions[0], vjp=self._functions[1],
                                   forward=self._functions[2], jacobian=self._functions[3],
                                   block_rows=model.block_rows)
        handle = ctypes.c_void_p()
        status = lib.ntk_model_create(ctypes.byref(callbacks), ctypes.byref(handle))
        if status:
            raise_for_status(status)
        self._handle = handle

    def add(self, X, name="X"):
        """Appends X's rows to the index space.

        Parameters
        ----------
        X : array_like, (n, ...)
        name : str
            For messages.

        Returns
        -------
        numpy.ndarray of int64, (n,)
            Their indices.
        """
        if X is None or not hasattr(X, "__len__") or np.ndim(X) < 1:
            raise DimensionMismatchError(f"{name} must be an array with one row per sample, got {type(X).__name__}")
        X = np.asarray(X)
        start = sum(len(x) for x in self._segments)
        self._segments.append(X)
        return np.arange(start, start + len(X), dtype=np.int64)

    def drop(self, count):
        """Forgets the last arrays added.

        Parameters
        ----------
        count : int
        """
        del self._segments[len(self._segments) - count:]

    def _rows(self, count, rows):
        """The rows (by index) of the data: a view when they are consecutive in one array."""
        index = np.ctypeslib.as_array(rows, (count,))
        starts = np.cumsum([0] + [len(x) for x in self._segments])
        first, last = int(index[0]), int(index[-1])
        s = int(np.searchsorted(starts, first, side="right")) - 1
        if last - first == count - 1 and last < starts[s + 1] and np.all(np.diff(index) == 1):
            return self._segments[s][first - starts[s]:last + 1 - starts[s]]
        if index.max() >= starts[-1]:
            raise IndexError(f"row {int(index.max())} is beyond the {int(starts[-1])} rows of the data")
        segment = np.searchsorted(starts, index, side="right") - 1
        return np.stack([self._segments[g][i - starts[g]] for g, i in zip(segment, index)])

    def _guard(self, body):
        """Runs a product; an exception (or a pending Ctrl-C) becomes a non-zero return."""
        if self.error is not None or (self._cb is not None and self._cb.interrupt.pending):
            return 1
        try:
            body()
            return 0
        except BaseException as e:  # noqa: BLE001 — re-raised by run()
            with self._lock:
                if self.error is None:
                    self.error = e
            return 1

    def _store(self, out, count, shape, value, what):
        value = np.asarray(value)
        if value.shape != shape:
            raise DimensionMismatchError(f"the model's {what} returned shape {value.shape}, expected {shape}")
        np.ctypeslib.as_array(out, (count,)).reshape(shape)[...] = value

    def _jvp(self, _user, count, rows, nvec, v, out):
        def body():
            V = np.ctypeslib.as_array(v, (nvec * self._p,)).reshape(nvec, self._p)
            self._store(out, nvec * count * self._k, (nvec, count, self._k), self.model.jvp(self._rows(count, rows), V),
                        "jvp")
        return self._guard(body)

    def _vjp(self, _user, count, rows, nvec, u, out):
        def body():
            U = np.ctypeslib.as_array(u, (nvec * count * self._k,)).reshape(nvec, count, self._k)
            self._store(out, nvec * self._p, (nvec, self._p), self.model.vjp(self._rows(count, rows), U), "vjp")
        return self._guard(body)

    def _forward(self, _user, count, rows, out):
        return self._guard(lambda: self._store(out, count * self._k, (count, self._k),
                                               self.model(self._rows(count, rows)), "forward pass"))

    def _jacobian(self, _user, count, rows, out):
        return self._guard(lambda: self._store(out, count * self._k * self._p, (count, self._k, self._p),
                                               self.model.jacobian(self._rows(count, rows)), "jacobian"))

    def run(self, cb, function, *args):
        """``cb.call(function, *args)``, re-raising a product's own exception instead of CallbackError.

        Parameters
        ----------
        cb : ntk._progress.Callback
        function : ctypes function
        *args
            Its arguments.
        """
        self.error, self._cb = None, cb
        try:
            cb.call(function, *args)
        except CallbackError:
            if self.error is not None:
                error, self.error = self.error, None
                raise error from None
            raise
        finally:
            self._cb = None


def rows_pointer(rows):
    """An ``int64_t *`` into an int64 index array.

    Parameters
    ----------
    rows : numpy.ndarray of int64 or None
        None gives NULL.
    """
    return None if rows is None else rows.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))


def is_model(net):
    """Whether ``net`` is a :class:`Model` (not libntk's MLP).

    Parameters
    ----------
    net : object
    """
    return isinstance(net, Model)

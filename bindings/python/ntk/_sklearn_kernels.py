"""The infinite-width kernels as scikit-learn Gaussian-process kernels (exported by ntk.sklearn).

``NNGPKernel`` and ``NTKKernel`` are :class:`sklearn.gaussian_process.kernels.Kernel` subclasses
whose hyperparameters are ``W_std``, ``b_std`` and ``input_scale`` (one shared scale, or one per
feature when given as an array: the kernel of ``X * input_scale``). Their gradients are the
library's exact ones (:func:`ntk.infinite_width_gradient`), so ``GaussianProcessRegressor`` and
``GaussianProcessClassifier`` fit them with their own optimisers, composed with ``WhiteKernel``,
``ConstantKernel`` and the rest of scikit-learn's kernel algebra.
"""

import numpy as np
from sklearn.gaussian_process.kernels import Hyperparameter, Kernel

from .kernels import infinite_width_diagonal, infinite_width_kernels
from .network import MLP
from .tuning import _scales, infinite_width_gradient


class _InfiniteWidthKernel(Kernel):
    """What NNGPKernel and NTKKernel share; ``_kind`` names the kernel."""

    _kind = None

    def __init__(self, depth=2, activation="relu", W_std=np.sqrt(2.0), b_std=0.1, input_scale=1.0,
                 W_std_bounds=(1e-2, 1e2), b_std_bounds=(1e-4, 1e2), input_scale_bounds=(1e-3, 1e3),
                 parameterization="ntk", width=512):
        self.depth = depth
        self.activation = activation
        self.W_std = W_std
        self.b_std = b_std
        self.input_scale = input_scale
        self.W_std_bounds = W_std_bounds
        self.b_std_bounds = b_std_bounds
        self.input_scale_bounds = input_scale_bounds
        self.parameterization = parameterization
        self.width = width

    @property
    def hyperparameter_W_std(self):
        return Hyperparameter("W_std", "numeric", self.W_std_bounds)

    @property
    def hyperparameter_b_std(self):
        return Hyperparameter("b_std", "numeric", self.b_std_bounds)

    @property
    def hyperparameter_input_scale(self):
        return Hyperparameter("input_scale", "numeric", self.input_scale_bounds, len(np.atleast_1d(self.input_scale))
                              if np.ndim(self.input_scale) else 1)

    @property
    def requires_vector_input(self):
        return True

    def is_stationary(self):
        return False

    def _network(self, d):
        # In the NTK parameterisation the infinite-width kernel does not depend on the widths.
        width = 1 if self.parameterization == "ntk" else int(self.width)
        return MLP(d, [width] * int(self.depth), activation=self.activation, W_std=float(self.W_std),
                   b_std=float(self.b_std), parameterization=self.parameterization)

    def _scales(self, d):
        return _scales(d, self.input_scale)

    def __call__(self, X, Y=None, eval_gradient=False):
        """K(X, Y) (Y None: X's own kernel), and with ``eval_gradient`` its gradient
        (n, n, n_dims) in the log-hyperparameters of ``theta`` (W_std, b_std, input_scale)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if eval_gradient and Y is not None:
            raise ValueError("Gradient can only be evaluated when Y is None.")
        s = self._scales(X.shape[1])
        with self._network(X.shape[1]) as net:
            if not eval_gradient:
                nngp, ntk = infinite_width_kernels(net, X * s, None if Y is None else np.atleast_2d(Y) * s)
                return nngp if self._kind == "nngp" else ntk
            K, dK = infinite_width_gradient(net, X, kernel=self._kind, input_scales=s)
        d = X.shape[1]
        parts = []
        if not self.hyperparameter_W_std.fixed:
            parts.append(dK[:, :, :1] * float(self.W_std))
        if not self.hyperparameter_b_std.fixed:
            parts.append(dK[:, :, 1:2] * float(self.b_std))
        if not self.hyperparameter_input_scale.fixed:
            scaled = dK[:, :, 2:2 + d] * s
            parts.append(scaled if np.ndim(self.input_scale) else scaled.sum(axis=2, keepdims=True))
        gradient = np.concatenate(parts, axis=2) if parts else np.empty((len(X), len(X), 0))
        return K, gradient

    def diag(self, X):
        """K(x, x) for each row of X, O(n d)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        with self._network(X.shape[1]) as net:
            nngp, ntk = infinite_width_diagonal(net, X * self._scales(X.shape[1]))
        return nngp if self._kind == "nngp" else ntk

    def __repr__(self):
        scale = np.array2string(np.asarray(self.input_scale), precision=3) if np.ndim(self.input_scale) else \
            f"{float(self.input_scale):.3g}"
        return (f"{type(self).__name__}(depth={self.depth}, activation={self.activation!r}, "
                f"W_std={float(self.W_std):.3g}, b_std={float(self.b_std):.3g}, input_scale={scale})")


class NNGPKernel(_InfiniteWidthKernel):
    """The infinite-width NNGP kernel of a dense network as a scikit-learn GP kernel.

    Parameters
    ----------
    depth : int, default 2
        Hidden layers.
    activation : str, default "relu"
        One of ``ntk.ACTIVATIONS``.
    W_std, b_std : float, default sqrt(2), 0.1
        Hyperparameters (optimised in log-space; ``b_std_bounds="fixed"`` keeps b_std, e.g. 0).
    input_scale : float or array_like (d,), default 1.0
        Hyperparameter: the kernel of ``X * input_scale``; an array gives one scale per feature.
    W_std_bounds, b_std_bounds, input_scale_bounds : pair of float or "fixed"
    parameterization : "ntk" or "standard", default "ntk"
    width : int, default 512
        Hidden width (only the standard parameterisation's kernel depends on it).
    """

    _kind = "nngp"


class NTKKernel(_InfiniteWidthKernel):
    """The infinite-width NTK of a dense network as a scikit-learn GP kernel (the NTK-GP).

    Parameters
    ----------
    depth, activation, W_std, b_std, input_scale : as :class:`NNGPKernel`
    W_std_bounds, b_std_bounds, input_scale_bounds, parameterization, width : as :class:`NNGPKernel`
    """

    _kind = "ntk"

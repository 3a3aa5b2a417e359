"""Kernels fitted to the data: exact hyperparameter gradients of the infinite-width kernels, the
tuning objectives (log marginal likelihood, GCV, leave-one-out) and their optimisation.

The infinite-width NNGP or NTK of an architecture depends on ``W_std``, ``b_std`` and on
per-feature input scales ``s`` (the kernel of ``X`` is the kernel of ``X * s``: automatic
relevance determination; one shared scale when ``ard=False``). The library differentiates the
layer recursion exactly (forward mode, every activation), so the objectives come with exact
gradients and L-BFGS-B moves all d + 4 hyperparameters at once (docs/tuning.md).
"""

import ctypes
import logging
import time
import warnings

import numpy as np

from . import _arrays
from ._data import TargetData
from ._library import InfiniteWidthOptions, KernelHyperparameters, Points, choices, lib
from ._progress import Bar, Callback, wants_cancel
from .errors import (CancelledError, ConvergenceWarning, DimensionMismatchError, InvalidArgumentError,
                     NotPositiveDefiniteError, NumericalError)
from .kernels import infinite_width_diagonal
from .network import MLP

logger = logging.getLogger("ntk")

#: The kernels that can be tuned, with their values of the C enum ``ntk_kernel_kind``.
KERNEL_KINDS = choices("ntk_kernel_kind", "NTK_KERNEL_")
#: The tuning objectives (``ntk_tuning_criterion``): "lml" (maximised), "gcv", "loo" (minimised).
OBJECTIVES = choices("ntk_tuning_criterion", "NTK_TUNING_")
#: The objectives' hyperparameters that are always tuned, before the input scales.
_DEFAULT_BOUNDS = {"W_std": (1e-2, 1e2), "b_std": (1e-4, 1e2), "input_scales": (1e-3, 1e3),
                   "ridge": (1e-9, 1e2), "amplitude": (1e-4, 1e4)}
#: What a failed evaluation (K not positive definite, overflow) costs the optimiser: a finite
#: value far above any objective in its units, so the line search backs off.
_PENALTY = 1e10


def _inputs(net, X):
    if not isinstance(net, MLP):
        raise InvalidArgumentError(f"net must be an ntk.MLP, got {type(net).__name__}")
    return net._inputs(X)


def _scales(d, input_scales):
    """The d input scales of ``input_scales``: None is all 1, a number is shared by every feature."""
    scales = np.ones(d) if input_scales is None else np.array(input_scales, dtype=np.float64).ravel()
    if scales.size == 1:
        scales = np.full(d, scales[0])
    if scales.shape != (d,):
        raise InvalidArgumentError(f"input_scales must be a number or {d} numbers, got {scales.size}")
    return scales


def _hyperparameters(net, W_std, b_std, input_scales):
    """``(KernelHyperparameters, scales)``: None takes the network's W_std / b_std and scales 1."""
    scales = _scales(net.input_dim, input_scales)
    hyper = KernelHyperparameters(w_std=_arrays.scalar(net.W_std if W_std is None else W_std, "W_std"),
                                  b_std=_arrays.scalar(net.b_std if b_std is None else b_std, "b_std"),
                                  input_scales=_arrays.pointer(scales))
    return hyper, scales


def _options(quadrature_points, cb):
    points = 0 if quadrature_points is None else _arrays.integer(quadrature_points, "quadrature_points")
    return InfiniteWidthOptions(quadrature_points=points, progress=cb.c_function)


def _kind(kernel):
    return _arrays.choice(kernel, KERNEL_KINDS, "kernel")


def infinite_width_gradient(net, X, kernel="ntk", W_std=None, b_std=None, input_scales=None, quadrature_points=None,
                            progress=None):
    """The infinite-width kernel of X and its exact derivatives in the hyperparameters.

    Parameters
    ----------
    net : ntk.MLP
        The architecture (depth, activation, parameterisation, bias); its weights are not used.
    X : array_like, (n, d)
    kernel : "ntk" or "nngp", default "ntk"
    W_std, b_std : float, optional
        The hyperparameters at which to differentiate (None: the network's).
    input_scales : float or array_like (d,), optional
        s: the kernel is that of the rows ``X * s`` (None: 1).
    quadrature_points : int, optional
        tanh, sigmoid, softplus: Kolmogorov-rule nodes (None: automatic, ~1e-12).
    progress : True or callable, optional

    Returns
    -------
    K : numpy.ndarray, (n, n)
    dK : numpy.ndarray, (n, n, d + 2)
        ``dK[:, :, j]`` is ``dK/dtheta_j`` for theta = [W_std, b_std, s_1, ..., s_d] (derivatives in
        the values, not their logarithms), as scikit-learn lays out kernel gradients.
    """
    x, px, ldx = _inputs(net, X)
    n, p = x.shape[0], net.input_dim + 2
    hyper, _scales = _hyperparameters(net, W_std, b_std, input_scales)
    K, dK = np.empty((n, n)), np.empty((p, n, n))
    cb = Callback(progress)
    options = _options(quadrature_points, cb)
    cb.call(lib.ntk_infinite_width_gradient, net._live(), _kind(kernel), n, px, ldx, ctypes.byref(hyper),
            ctypes.byref(options), _arrays.pointer(K), max(n, 1), _arrays.pointer(dK))
    return K, np.moveaxis(dK, 0, -1)


def infinite_width_gradient_contract(net, X, G, kernel="ntk", W_std=None, b_std=None, input_scales=None,
                                     quadrature_points=None, progress=None):
    """``g_j = sum(G * dK/dtheta_j)`` for theta = [W_std, b_std, s_1 ... s_d] without forming dK.

    The gradient of any function of the kernel whose derivative in K is G, in O(n^2 (d + depth))
    time and O(n^2) memory (the derivatives themselves would take (d + 2) n^2 numbers).

    Parameters
    ----------
    net, X, kernel, W_std, b_std, input_scales, quadrature_points, progress
        As :func:`infinite_width_gradient`.
    G : array_like, (n, n)
        The weights (only ``G + G.T`` matters: K is symmetric).

    Returns
    -------
    numpy.ndarray, (d + 2,)
    """
    x, px, ldx = _inputs(net, X)
    n = x.shape[0]
    g, pg, ldg, _ = _arrays.matrix(G, "G")
    hyper, _scales = _hyperparameters(net, W_std, b_std, input_scales)
    out = np.empty(net.input_dim + 2)
    cb = Callback(progress)
    options = _options(quadrature_points, cb)
    cb.call(lib.ntk_infinite_width_gradient_contract, net._live(), _kind(kernel), n, px, ldx, ctypes.byref(hyper),
            pg, ldg, ctypes.byref(options), _arrays.pointer(out))
    return out


def kernel_objective(net, X, Y, objective="lml", kernel="ntk", W_std=None, b_std=None, input_scales=None,
                     ridge=1e-2, amplitude=1.0, f0_train=None, centers=None, quadrature_points=None, progress=None):
    """A tuning objective and its exact gradient.

    With ``Kz = amplitude * K + ridge * I`` (K the kernel of ``X * input_scales``), residuals
    ``R = Y - f0_train`` and N = n k:

    - "lml": the log marginal likelihood ``sum_c log N(R[:, c]; 0, Kz)`` (as :func:`ntk.gp_posterior`;
      larger is better);
    - "gcv": ``|(I - H) R|^2 / N / (1 - tr(H)/n)^2`` with ``H = amplitude K Kz^-1`` (as
      :meth:`ntk.SpectralSolver.select_ridge`; smaller is better);
    - "loo": the exact leave-one-out mean squared error of that kernel ridge (smaller is better).

    Parameters
    ----------
    net, X, kernel, W_std, b_std, input_scales, quadrature_points, progress
        As :func:`infinite_width_gradient`.
    Y : array_like, (n, k) or (n,)
    objective : "lml", "gcv" or "loo", default "lml"
    ridge : float > 0, default 1e-2
        z, absolute: the noise variance (lml) or the ridge.
    amplitude : float > 0, default 1
        a, the kernel's output scale (GCV and LOO depend on ridge / amplitude only).
    f0_train : array_like, optional
        Offsets (prior mean), like Y.
    centers : array_like, (c, d), optional
        Nyström centres (points in input space, scaled like X): the GCV of Nyström kernel ridge
        with these centres (as :meth:`ntk.NystromRidge.select_ridge` scores it) instead of the
        dense objective, in O(n c) memory and O(n c (c + d)) time; needs ``objective="gcv"``.

    Returns
    -------
    value : float
    gradient : numpy.ndarray, (d + 4,)
        With respect to [W_std, b_std, s_1, ..., s_d, ridge, amplitude] (in the values).
    """
    x, px, ldx = _inputs(net, X)
    n = x.shape[0]
    data = TargetData(Y, n, "X", f0_train)
    hyper, _scales = _hyperparameters(net, W_std, b_std, input_scales)
    hyper.ridge, hyper.amplitude = _arrays.scalar(ridge, "ridge"), _arrays.scalar(amplitude, "amplitude")
    value, gradient = ctypes.c_double(), np.empty(net.input_dim + 4)
    cb = Callback(progress)
    options = _options(quadrature_points, cb)
    if centers is not None:
        _require_gcv(objective)
        c, pc, ldc, _ = _arrays.matrix(centers, "centers")
        if c.shape[1] != net.input_dim:
            raise DimensionMismatchError(f"centers must have {net.input_dim} columns, got shape {c.shape}")
        points = Points(c.shape[0], pc, ldc, _arrays.NULL, 1)
        cb.call(lib.ntk_kernel_objective_nystrom, net._live(), _kind(kernel), n, px, ldx, ctypes.byref(points),
                ctypes.byref(data.c), ctypes.byref(hyper), ctypes.byref(options), ctypes.byref(value),
                _arrays.pointer(gradient))
        return value.value, gradient
    cb.call(lib.ntk_kernel_objective, net._live(), _kind(kernel), n, px, ldx, ctypes.byref(data.c),
            ctypes.byref(hyper), _arrays.choice(objective, OBJECTIVES, "objective"), ctypes.byref(options),
            ctypes.byref(value), _arrays.pointer(gradient))
    return value.value, gradient


class KernelTuning:
    """The result of :func:`tune_kernel`: the best hyperparameters found and how they were found.

    Attributes
    ----------
    W_std, b_std : float
    input_scales : numpy.ndarray, (d,)
        s: use the kernel of ``X * input_scales`` (:meth:`transform`).
    ridge : float
        The absolute ridge of kernel ridge regression with this kernel: ``noise / amplitude``
        for "lml" (the GP posterior mean's ridge), the tuned ridge for "gcv" and "loo".
    noise, amplitude : float
        The tuned noise variance z and output scale a (amplitude 1 for "gcv" and "loo").
    objective : str
    value : float
        The objective at the optimum (the log marginal likelihood, GCV or LOO in Y's units).
    widths, activation, parameterization, kernel : the architecture tuned.
    trace : list of numpy.ndarray
        For each start, the objective after each L-BFGS-B iteration.
    starts : list of dict
        Each start's final value, evaluations, convergence flag and message.
    converged : bool
        Whether the best start's L-BFGS-B run converged.
    n_evaluations : int
    seconds : float
    candidates : list of KernelTuning
        With several depths / activations, every candidate's result (the best is this one).
    """

    def __init__(self, **fields):
        self.candidates = []
        for name, value in fields.items():
            setattr(self, name, value)

    def network(self, output_dim=1, seed=0):
        """An :class:`ntk.MLP` of the tuned architecture, W_std and b_std (feed it ``transform(X)``).

        Parameters
        ----------
        output_dim : int, default 1
        seed : int, default 0
            The network's initial parameters (its infinite-width kernels do not depend on them).

        Returns
        -------
        ntk.MLP
        """
        return MLP(len(self.input_scales), list(self.widths), output_dim=output_dim, activation=self.activation,
                   W_std=self.W_std, b_std=self.b_std, parameterization=self.parameterization, seed=seed)

    def transform(self, X):
        """``X * input_scales``: the inputs of the tuned kernel.

        Parameters
        ----------
        X : array_like, (m, d)

        Returns
        -------
        numpy.ndarray, (m, d)
        """
        return np.asarray(X, dtype=np.float64) * self.input_scales

    def __repr__(self):
        scales = np.array2string(self.input_scales, precision=3, threshold=8)
        return (f"KernelTuning({self.objective}={self.value:.6g}, W_std={self.W_std:.4g}, b_std={self.b_std:.4g}, "
                f"input_scales={scales}, ridge={self.ridge:.3g}, depth={len(self.widths)}, "
                f"activation={self.activation!r}, converged={self.converged})")


class _Problem:
    """The optimisation in log-parameters: which hyperparameters move, their bounds, and the
    objective normalised to O(1) (-LML / N; GCV and LOO over their value at the start) for
    L-BFGS-B's tolerances."""

    def __init__(self, net, x, data, kernel, objective, ard, start, bounds, quadrature_points, centers=None):
        self.net, self.x, self.data, self.kernel, self.objective = net, x, data, kernel, objective
        self.ard, self.quadrature_points, self.centers = ard, quadrature_points, centers
        self.tune_bias = start["b_std"] > 0
        d = net.input_dim
        names = ["W_std"] + (["b_std"] if self.tune_bias else []) + ["input_scales"] * (d if ard else 1) + ["ridge"]
        if objective == "lml":
            names.append("amplitude")
        self.names = names
        self.fixed = dict(start)
        self.bounds = np.log([bounds[name] for name in names])
        residual = data.y if data.f0 is None else data.y - data.f0
        self.unit = residual.size if objective == "lml" else max(float(np.mean(residual**2)), 1e-300)
        if objective != "lml":  # GCV and LOO in units of their value at the start: O(1) for ftol
            try:
                self.unit = max(self.evaluate(start)[0], 1e-300)
            except (NotPositiveDefiniteError, NumericalError):
                pass
        self.evaluations = 0

    def pack(self, values):
        s = values["input_scales"]
        parts = [[values["W_std"]], [values["b_std"]] if self.tune_bias else [], list(s) if self.ard else [s[0]],
                 [values["ridge"]], [values["amplitude"]] if self.objective == "lml" else []]
        return np.log(np.concatenate([np.asarray(p, dtype=np.float64) for p in parts]))

    def unpack(self, theta):
        v = np.exp(theta)
        d, i = self.net.input_dim, 1
        out = dict(self.fixed, W_std=v[0])
        if self.tune_bias:
            out["b_std"], i = v[i], i + 1
        out["input_scales"], i = (v[i:i + d].copy(), i + d) if self.ard else (np.full(d, v[i]), i + 1)
        out["ridge"] = v[i]
        if self.objective == "lml":
            out["amplitude"] = v[i + 1]
        return out

    def evaluate(self, values):
        """(value, raw gradient) at the hyperparameter values."""
        return kernel_objective(self.net, self.x, self.data.y, self.objective, self.kernel, values["W_std"],
                                values["b_std"], values["input_scales"], values["ridge"], values["amplitude"],
                                f0_train=self.data.f0, centers=self.centers, quadrature_points=self.quadrature_points)

    def __call__(self, theta):
        """The normalised objective to minimise and its gradient in log-parameters."""
        self.evaluations += 1
        values = self.unpack(theta)
        try:
            value, g = self.evaluate(values)
        except (NotPositiveDefiniteError, NumericalError) as e:
            logger.info(f"tune_kernel: evaluation failed at {values}: {e}")
            return _PENALTY, np.zeros_like(theta)
        sign = -1.0 if self.objective == "lml" else 1.0
        d = self.net.input_dim
        scales = values["input_scales"]
        parts = [[g[0] * values["W_std"]], [g[1] * values["b_std"]] if self.tune_bias else [],
                 g[2:2 + d] * scales if self.ard else [float(np.dot(g[2:2 + d], scales))],
                 [g[d + 2] * values["ridge"]], [g[d + 3] * values["amplitude"]] if self.objective == "lml" else []]
        grad = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts])
        return sign * value / self.unit, sign * grad / self.unit


def _require_gcv(objective):
    """Nyström centres come with one objective, GCV."""
    if objective != "gcv":
        raise InvalidArgumentError(f"with centers (Nyström) the objective is GCV: objective='gcv', not {objective!r}")


def _validate(objective, kernel, n_restarts, max_iter, centers=None):
    if objective not in OBJECTIVES:
        raise InvalidArgumentError(f"objective must be one of {tuple(OBJECTIVES)}, got {objective!r}")
    if kernel not in KERNEL_KINDS:
        raise InvalidArgumentError(f"kernel must be one of {tuple(KERNEL_KINDS)}, got {kernel!r}")
    if isinstance(n_restarts, bool) or not isinstance(n_restarts, (int, np.integer)) or n_restarts < 0:
        raise InvalidArgumentError(f"n_restarts must be an int >= 0, got {n_restarts!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise InvalidArgumentError(f"max_iter must be an int >= 1, got {max_iter!r}")
    if centers is not None:
        _require_gcv(objective)


def _bounds(bounds):
    merged = dict(_DEFAULT_BOUNDS)
    for name, pair in (bounds or {}).items():
        if name not in merged:
            raise InvalidArgumentError(f"bounds: unknown hyperparameter {name!r}; known: {tuple(merged)}")
        lo, hi = (float(v) for v in pair)
        if not (0 < lo <= hi < np.inf):
            raise InvalidArgumentError(f"bounds[{name!r}] must satisfy 0 < low <= high < inf, got {pair!r}")
        merged[name] = (lo, hi)
    return merged


def _start(net, x, data, kernel, objective, W_std, b_std, input_scales, ridge, bounds):
    """The first start: the given values, the ridge 1e-2 x the kernel's mean diagonal and the
    amplitude that matches the targets' variance; checked against the bounds."""
    scales = _scales(net.input_dim, input_scales)
    nngp_diag, ntk_diag = infinite_width_diagonal(net, x * scales)
    diag = float(np.mean(ntk_diag if kernel == "ntk" else nngp_diag)) if len(x) else 1.0
    diag = diag if np.isfinite(diag) and diag > 0 else 1.0
    residual = data.y if data.f0 is None else data.y - data.f0
    variance = float(np.mean(residual**2)) if residual.size else 1.0
    unit = max(variance, 1e-12) if objective == "lml" else diag
    start = {"W_std": float(W_std), "b_std": float(b_std), "input_scales": scales,
             "ridge": 1e-2 * unit if ridge is None else float(ridge),
             "amplitude": max(variance, 1e-12) / diag if objective == "lml" else 1.0}
    bounds = dict(bounds, ridge=(bounds["ridge"][0] * unit, bounds["ridge"][1] * unit),
                  amplitude=(bounds["amplitude"][0] * start["amplitude"], bounds["amplitude"][1] * start["amplitude"]))
    for name in ("W_std", "b_std", "ridge", "amplitude"):
        if name == "b_std" and start[name] == 0:
            continue
        if name == "amplitude" and objective != "lml":
            continue
        lo, hi = bounds[name]
        if not lo <= start[name] <= hi:
            raise InvalidArgumentError(f"the start {name} = {start[name]:.6g} is outside its bounds "
                                       f"({lo:.3g}, {hi:.3g})")
    lo, hi = bounds["input_scales"]
    if np.any(scales < lo) or np.any(scales > hi):
        raise InvalidArgumentError(f"the start input_scales are outside their bounds ({lo:.3g}, {hi:.3g})")
    return start, bounds


def _reporter(progress, bar, runs):
    """``report(runs done)`` for the tuning's progress: the bar, or the caller's callable, whose
    falsy answer (other than None) cancels, as for every long call."""
    if bar is not None:
        return lambda done: bar.update(done / runs)
    if progress is None or progress is False:
        return lambda done: None
    if not callable(progress):
        raise InvalidArgumentError(f"progress must be None, True, False or a callable, got {progress!r}")

    def report(done):
        if wants_cancel(progress(done / runs)):
            raise CancelledError("tune_kernel was cancelled by its progress callback")
    return report


def _optimise(problem, start, n_restarts, max_iter, tol, rng, report):
    """L-BFGS-B from ``start`` and from ``n_restarts`` seeded perturbations of it (each log
    parameter moved uniformly within +-1.5, clipped to the bounds); the best run wins."""
    from scipy.optimize import minimize

    theta0 = np.clip(problem.pack(start), problem.bounds[:, 0], problem.bounds[:, 1])
    runs, traces = [], []
    for run in range(n_restarts + 1):
        theta = theta0 if run == 0 else np.clip(theta0 + rng.uniform(-1.5, 1.5, theta0.size),
                                               problem.bounds[:, 0], problem.bounds[:, 1])
        trace = []
        before = problem.evaluations

        def step(intermediate_result):  # scipy passes the OptimizeResult to this exact name
            trace.append(float(intermediate_result.fun))
            report(run + len(trace) / max_iter)  # noqa: B023 - called during this run only

        result = minimize(problem, theta, jac=True, method="L-BFGS-B", bounds=problem.bounds, callback=step,
                          options={"maxiter": max_iter, "ftol": tol, "gtol": 1e-6})
        failed = result.fun >= _PENALTY
        runs.append({"value": np.inf if failed else float(result.fun), "theta": result.x,
                     "evaluations": problem.evaluations - before, "converged": bool(result.success) and not failed,
                     "message": str(result.message)})
        traces.append(np.asarray(trace) * problem.unit * (-1.0 if problem.objective == "lml" else 1.0))
        logger.info(f"tune_kernel: start {run}: {problem.objective} {runs[-1]['value']:.6g} (normalised) after "
                    f"{runs[-1]['evaluations']} evaluations, {result.message}")
        report(run + 1)
    return runs, traces


def tune_kernel(X, Y, widths=(512, 512), activation="relu", kernel="ntk", objective="lml", ard=False,
                W_std=np.sqrt(2.0), b_std=0.1, input_scales=None, ridge=None, parameterization="ntk",
                depths=None, activations=None, n_restarts=2, max_iter=200, tol=1e-5, bounds=None, f0_train=None,
                centers=None, random_state=0, quadrature_points=None, progress=None):
    """Fits the infinite-width kernel's hyperparameters to the data by L-BFGS-B with exact gradients.

    Tunes ``W_std``, ``b_std`` (when it starts > 0), the input scales (one per feature with
    ``ard=True``, one shared otherwise), the ridge or noise variance and, for "lml", the
    amplitude, all in log-space within ``bounds``; discrete choices (``depths``,
    ``activations``) are compared by their tuned objective.

    Parameters
    ----------
    X : array_like, (n, d)
        Training inputs (standardised features are the usual start: scales 1).
    Y : array_like, (n, k) or (n,)
        Targets (centre them first: the kernel has no intercept of its own).
    widths : sequence of int, default (512, 512)
        Hidden layers of the architecture (for the NTK parameterisation only the depth matters).
    activation : str, default "relu"
    kernel : "ntk" or "nngp", default "ntk"
    objective : "lml", "gcv" or "loo", default "lml"
        See :func:`kernel_objective`.
    ard : bool, default False
        One input scale per feature (automatic relevance determination).
    W_std, b_std : float, default sqrt(2), 0.1
        The start (b_std = 0 stays 0: no bias variance).
    input_scales : float or array_like (d,), optional
        The start of the scales (None: 1).
    ridge : float, optional
        The start of the ridge / noise variance (None: 1e-2 x the kernel's mean diagonal, or
        1e-2 x the targets' variance for "lml").
    parameterization : "ntk" or "standard", default "ntk"
    depths : sequence of int, optional
        Candidate numbers of hidden layers (each of width ``widths[0]``, or 512); the best wins.
    activations : sequence of str, optional
        Candidate activations; the best wins.
    n_restarts : int, default 2
        Further L-BFGS-B runs from seeded perturbations of the start.
    max_iter : int, default 200
        L-BFGS-B iterations per run.
    tol : float > 0, default 1e-5
        A run stops when an iteration improves the normalised objective (-LML / N, or GCV, LOO
        over their value at the start; all O(1)) by less than ``tol`` (L-BFGS-B's ``ftol``), or
        when the projected gradient is below 1e-6. (For N = 1,500 target entries 1e-5 is 0.015
        in the log likelihood.)
    bounds : dict, optional
        ``{name: (low, high)}`` overriding the defaults W_std (1e-2, 1e2), b_std (1e-4, 1e2),
        input_scales (1e-3, 1e3), ridge (1e-9, 1e2) x the kernel's mean diagonal (x the targets'
        variance for "lml"), amplitude (1e-4, 1e4) x the targets' variance / the kernel's mean diagonal.
    f0_train : array_like, optional
        Offsets (prior mean) like Y.
    centers : array_like, (c, d), optional
        Tune on the Nyström GCV with these centres instead of a dense objective (every row, O(n c)
        memory: for n beyond a few thousand); needs ``objective="gcv"``.
    random_state : int or None, default 0
        Seeds the restarts.
    quadrature_points : int, optional
        tanh, sigmoid, softplus: Kolmogorov-rule nodes (None: automatic).
    progress : True or callable, optional
        A bar (or ``progress(fraction)``) over the runs; Ctrl-C stops the tuning.

    Returns
    -------
    KernelTuning
        The best hyperparameters; a :class:`ntk.ConvergenceWarning` is issued when its run did
        not converge within ``max_iter`` (the best point found is returned).
    """
    _validate(objective, kernel, n_restarts, max_iter, centers)
    if not (np.isscalar(tol) and np.isfinite(tol) and tol > 0):
        raise InvalidArgumentError(f"tol must be a number > 0, got {tol!r}")
    if depths is not None or activations is not None:
        return _tune_candidates(X, Y, widths, activation, depths, activations, locals())
    start_time = time.perf_counter()
    x, _, _, _ = _arrays.matrix(X, "X")
    data = TargetData(Y, x.shape[0], "X", f0_train)
    if x.shape[0] < 1:
        raise InvalidArgumentError("tune_kernel needs at least one training point")
    net = MLP(x.shape[1], [1 if parameterization == "ntk" else w for w in widths], activation=activation,
              W_std=W_std, b_std=b_std, parameterization=parameterization)
    with net:
        start, merged = _start(net, x, data, kernel, objective, W_std, b_std, input_scales, ridge, _bounds(bounds))
        problem = _Problem(net, x, data, kernel, objective, ard, start, merged, quadrature_points,
                           None if centers is None else np.ascontiguousarray(centers, dtype=np.float64))
        bar = Bar("tune_kernel") if progress is True else None
        report = _reporter(progress, bar, n_restarts + 1)
        try:
            runs, traces = _optimise(problem, start, n_restarts, max_iter, tol, np.random.default_rng(random_state),
                                     report)
        finally:
            if bar:
                bar.close()
        best = min(range(len(runs)), key=lambda i: runs[i]["value"])
        if not np.isfinite(runs[best]["value"]):
            raise NumericalError("tune_kernel: the objective could not be evaluated at any point tried (the kernel "
                                 "is not positive definite there); raise the ridge bounds")
        values = problem.unpack(runs[best]["theta"])
        value, _ = problem.evaluate(values)
    if not runs[best]["converged"]:
        warnings.warn(f"tune_kernel: L-BFGS-B did not converge ({runs[best]['message']}); returning the best point "
                      "found", ConvergenceWarning, stacklevel=2)
    ridge_ = values["ridge"] / values["amplitude"]
    return KernelTuning(W_std=float(values["W_std"]), b_std=float(values["b_std"]),
                        input_scales=np.asarray(values["input_scales"], dtype=np.float64), ridge=float(ridge_),
                        noise=float(values["ridge"]), amplitude=float(values["amplitude"]), objective=objective,
                        value=float(value), widths=tuple(widths), activation=activation,
                        parameterization=parameterization, kernel=kernel, trace=traces,
                        starts=[{k: v for k, v in r.items() if k != "theta"} for r in runs],
                        converged=runs[best]["converged"], n_evaluations=problem.evaluations,
                        seconds=time.perf_counter() - start_time)


def _tune_candidates(X, Y, widths, activation, depths, activations, arguments):
    """Every (depth, activation) candidate tuned; the best objective wins (largest LML, smallest
    GCV / LOO), with all candidates' results in ``candidates``."""
    width = widths[0] if len(widths) else 512
    grid = [(tuple([width] * depth) if depths is not None else tuple(widths), act)
            for depth in (depths if depths is not None else [None]) for act in (activations or [activation])]
    if not grid:
        raise InvalidArgumentError("depths and activations must not be empty")
    arguments = {k: v for k, v in arguments.items() if k not in ("X", "Y", "widths", "activation", "depths",
                                                                 "activations")}
    results = [tune_kernel(X, Y, widths=w, activation=a, **arguments) for w, a in grid]
    sign = -1.0 if arguments["objective"] == "lml" else 1.0
    best = min(results, key=lambda r: sign * r.value)
    best.candidates = results
    return best

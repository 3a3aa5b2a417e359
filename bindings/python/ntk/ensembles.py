"""The family of interpolators: what gradient flow gives over random initialisations.

Gradient flow from a random theta_0 gives "a family of interpolators indexed by the random seed"
(eq. 20-21 of the lecture notes). For infinitely wide networks the family is Gaussian, with a
closed-form mean and covariance at every training time (Lee et al. 2019, eq. 16):

- :func:`ensemble_gradient_flow` — that mean and covariance, in the "ntk" regime (every layer
  trained) or the "nngp" regime (only the readout), at any times (``inf`` included);
- :func:`gp_posterior` — Gaussian-process posteriors at t = inf for any kernel: the NNGP
  posterior (exact Bayesian inference for the infinitely wide network) or the NTK-GP, with the
  log marginal likelihood for choosing W_std, b_std or the depth;
- :func:`sampled_ensemble` — the same statistics from M finite networks (linearised or trained)
  of one architecture, to see how close finite width is to the limit.

Conventions as :func:`ntk.gradient_flow`: MSE ``(1/N) sum 1/2 (f - y)^2`` with N = n * k, time in
units of the learning rate, absolute ridges. A 1-D ``Y`` is taken as (n, 1); means keep the
output axis.
"""

import concurrent.futures
import ctypes
import os

import numpy as np

from . import _arrays
from ._data import TargetData, square
from ._library import EnsembleOptions, EnsembleTest, GPOptions, TestKernel, choices, lib
from ._progress import Callback
from .errors import CancelledError, DimensionMismatchError, InvalidArgumentError
from .kernels import empirical_ntk
from .network import MLP, Network
from .regression import gradient_flow

__all__ = ["ensemble_gradient_flow", "gp_posterior", "sampled_ensemble", "SampledEnsemble"]

_REGIMES = choices("ntk_ensemble_regime", "NTK_REGIME_")
_COVARIANCES = choices("ntk_covariance_form", "NTK_COVARIANCE_")


def _rect(K, name, rows, cols):
    k, pk, ldk, _ = _arrays.matrix(K, name)
    if (rows is not None and k.shape[0] != rows) or k.shape[1] != cols:
        raise DimensionMismatchError(f"{name} must have shape ({'m' if rows is None else rows}, {cols}), got {k.shape}")
    return k, pk, ldk


def _diagonal_column(nngp_test, m):
    """The diagonal K(x_i, x_i) of a test kernel given as (m,) or (m, m), as an (m, 1) column."""
    d = np.asarray(nngp_test)
    if d.ndim == 2 and d.shape == (m, m):
        d = np.diagonal(d)  # a strided view, passed with its leading dimension m + 1
    elif d.shape != (m,):
        raise DimensionMismatchError(f"nngp_test must have shape ({m},) (its diagonal) or ({m}, {m}), got {d.shape}")
    return _rect(d.reshape(m, 1), "nngp_test", m, 1)


def _times(times):
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1:
        raise InvalidArgumentError(f"times must be a number or a 1-D sequence, got shape {t.shape}")
    if np.any(np.isnan(t)) or np.any(t < 0):
        raise InvalidArgumentError(f"times must be >= 0 (numpy.inf allowed), got {t}")
    return np.ascontiguousarray(t)


def ensemble_gradient_flow(nngp_train, ntk_train, Y, times, nngp_test_train=None, ntk_test_train=None,
                           nngp_test=None, regime="ntk", learning_rate=1.0, ridge=0.0, progress=None,
                           covariance="full"):
    """Mean and covariance over initialisations of infinitely wide networks trained by gradient
    flow, at every time of ``times`` (``numpy.inf`` allowed).

    With Theta the trained kernel (the NTK for ``regime="ntk"``, the NNGP kernel K for
    ``"nngp"``) plus the ridge z, and N = n * k::

        A_t  = Theta(x, X) (Theta + zI)^-1 (I - exp(-eta t (Theta + zI) / N))
        mean = A_t Y
        cov  = K(x, x') + A_t K_XX A_t^T - A_t K(X, x') - K(x, X) A_t^T

    (K_XX with the ridge in the "nngp" regime, where this is
    ``K(x, x') - K(x, X) (K + zI)^-1 (I - exp(-2 eta t (K + zI)/N)) K(X, x')``; at t = inf the
    NNGP posterior). One eigendecomposition serves every time.

    Parameters
    ----------
    nngp_train, ntk_train : (n, n) training kernels; ``ntk_train`` may be None for "nngp"
    Y : (n, k) or (n,) targets
    times : number or (T,) times >= 0
    nngp_test_train, ntk_test_train, nngp_test : (m, n), (m, n), (m, m) kernels of test points;
        all None for the distribution on the training points themselves (Theta(x, X) = Theta,
        no ridge on the test side). ``ntk_test_train`` is needed only for "ntk". With
        ``covariance="diagonal"`` only the diagonal of ``nngp_test`` is read, and it may be given
        as that diagonal, shape (m,) (``ntk.infinite_width_diagonal``), so the (m, m) test kernel
        need never be computed.
    regime : "ntk" or "nngp"
    learning_rate, ridge : eta > 0 and z >= 0 (absolute)
    progress : True for a bar, or ``progress(fraction)``
    covariance : "full" (default) or "diagonal"
        "diagonal": the variances alone (what a standard deviation needs), without the m x m
        products: O(m) memory per time instead of O(m^2), and in the "nngp" regime O(m n) work
        per time instead of O(m^2 n).

    Returns
    -------
    mean : (T, m, k) — (T, n, k) without test kernels
    cov : (T, m, m) — the same for every output column; symmetric PSD to rounding. With
        ``covariance="diagonal"``: (T, m), the variances.
    """
    which = _arrays.choice(regime, _REGIMES, "regime")
    form = _arrays.choice(covariance, _COVARIANCES, "covariance")
    diagonal = form == _COVARIANCES["diagonal"]
    nngp, pnngp, ldnngp = square(nngp_train, "nngp_train")
    n = nngp.shape[0]
    if which == _REGIMES["ntk"]:
        if ntk_train is None:
            raise InvalidArgumentError("regime='ntk' needs ntk_train")
        ntk, pntk, ldntk = square(ntk_train, "ntk_train", n)
    else:
        ntk, pntk, ldntk = None, _arrays.NULL, 1
    data = TargetData(Y, n, "nngp_train")            # the ensemble starts from random networks: no f0
    y, k = data.y, data.k
    t = _times(times)
    given = [a is not None for a in (nngp_test_train, nngp_test)]
    given += [ntk_test_train is not None] if ntk is not None else []
    keep = [y, nngp, ntk]
    if any(given) and not all(given):
        raise InvalidArgumentError("test kernels come together: nngp_test_train and nngp_test"
                                   + (", and ntk_test_train for regime='ntk'" if ntk is not None else ""))
    test = None
    m = n
    if all(given):
        kt, pkt, ldkt = _rect(nngp_test_train, "nngp_test_train", None, n)
        m = kt.shape[0]
        if diagonal:
            ktt, pktt, ldktt = _diagonal_column(nngp_test, m)
        else:
            ktt, pktt, ldktt = square(nngp_test, "nngp_test", m)
        if ntk is not None:
            tt, ptt, ldtt = _rect(ntk_test_train, "ntk_test_train", m, n)
            keep.append(tt)
        else:
            ptt, ldtt = _arrays.NULL, 1
        keep += [kt, ktt]
        test = EnsembleTest(m, pkt, ldkt, ptt, ldtt, pktt, ldktt)
    mean = np.empty((len(t), m, k))
    cov = np.empty((len(t), m) if diagonal else (len(t), m, m))
    cb = Callback(progress)
    options = EnsembleOptions(regime=which, learning_rate=_arrays.scalar(learning_rate, "learning_rate"),
                              ridge=_arrays.scalar(ridge, "ridge"), progress=cb.c_function, covariance=form)
    cb.call(lib.ntk_ensemble_gradient_flow, n, pnngp, ldnngp, pntk, ldntk, ctypes.byref(data.c),
            None if test is None else ctypes.byref(test), len(t), _arrays.pointer(t), ctypes.byref(options),
            _arrays.pointer(mean), _arrays.pointer(cov))
    del keep
    return mean, cov


def gp_posterior(K_train, Y, K_test_train, K_test, ridge=0.0, f0_train=None, f0_test=None, progress=None):
    """Gaussian-process posterior with the kernel as prior covariance and noise variance ``ridge``.

    With the NNGP kernel this is the NNGP posterior (exact Bayesian inference for the infinitely
    wide network), with the NTK the NTK-GP (He et al. 2020):
    ``mean = f0_test + K(x, X) (K + zI)^-1 (Y - f0_train)``,
    ``cov = K(x, x') - K(x, X) (K + zI)^-1 K(X, x')`` (the same for every output column), and the
    log marginal likelihood ``sum_c log N(Y[:, c] - f0; 0, K + zI)`` for choosing kernel
    hyper-parameters. ``K + zI`` must be positive definite (a ridge > 0 for singular kernels).

    Parameters
    ----------
    K_train : array_like, (n, n)
    Y : array_like, (n, k) or (n,)
    K_test_train : array_like, (m, n)
    K_test : array_like, (m, m)
    ridge : float
        The noise variance z >= 0.
    f0_train, f0_test : array_like, optional
    progress : True or callable, optional
        Reported during the factorisation.

    Returns
    -------
    mean : numpy.ndarray, (m, k)
    cov : numpy.ndarray, (m, m)
    log_marginal_likelihood : float
    """
    k_train, pk, ldk = square(K_train, "K_train")
    n = k_train.shape[0]
    data = TargetData(Y, n, "K_train", f0_train)
    k = data.k
    kt, pkt, ldkt = _rect(K_test_train, "K_test_train", None, n)
    m = kt.shape[0]
    ktt, pktt, ldktt = square(K_test, "K_test", m)
    f0t, pf0t, ldf0t = _arrays.optional_matrix(f0_test, "f0_test", (m, k))
    test = TestKernel(m, pkt, ldkt, pf0t, ldf0t)
    mean, cov, lml = np.empty((m, k)), np.empty((m, m)), ctypes.c_double()
    cb = Callback(progress)
    options = GPOptions(ridge=_arrays.scalar(ridge, "ridge"), progress=cb.c_function)
    cb.call(lib.ntk_gp_posterior, n, pk, ldk, ctypes.byref(data.c), ctypes.byref(test), pktt, ldktt,
            ctypes.byref(options), _arrays.pointer(mean), _arrays.pointer(cov), ctypes.byref(lml))
    del data, f0t
    return mean, cov, lml.value


class SampledEnsemble:
    """Predictions of M finite networks from M seeds, and their statistics (what :func:`sampled_ensemble` returns).

    Parameters
    ----------
    samples : numpy.ndarray, (M, T, m, k)
    seeds : sequence of int, (M,)
    times : sequence of float, (T,)
    mode : str

    Attributes
    ----------
    samples : numpy.ndarray, (M, T, m, k)
    mean : numpy.ndarray, (T, m, k)
    cov : numpy.ndarray, (T, m, m)
        The sample covariance over seeds, averaged over the k output columns (the infinite-width
        covariance is the same for every column).
    seeds : numpy.ndarray, (M,)
    times : numpy.ndarray, (T,)
    mode : str
    """

    def __init__(self, samples, seeds, times, mode):
        self.samples, self.seeds, self.times, self.mode = samples, np.asarray(seeds), times, mode
        self.mean = samples.mean(axis=0)
        centred = samples - self.mean
        M, k = samples.shape[0], samples.shape[3]
        self.cov = np.einsum("stic,stjc->tij", centred, centred) / (max(M - 1, 1) * k)

    def __repr__(self):
        M, T, m, k = self.samples.shape
        return f"SampledEnsemble(mode={self.mode!r}, networks={M}, times={T}, points={m}, outputs={k})"


def sampled_ensemble(net, X_train, Y, times, X_test=None, n_networks=100, mode="linearized", learning_rate=1.0,
                     ridge=0.0, seeds=None, workers=None, progress=None):
    """Predictions of ``n_networks`` networks of ``net``'s architecture, one per seed, and their statistics.

    Each network is trained on (X_train, Y) with MSE; predictions at every time of ``times``.

    Parameters
    ----------
    net : MLP or Network
        The architecture (its parameters are not used).
    X_train : array_like, (n, d), or (n, *input_shape) for a Network
    Y : array_like, (n, k) or (n,)
    times : array_like, (T,)
    X_test : array_like, (m, d) or (m, *input_shape), optional
        None: predictions on X_train.
    n_networks : int
    mode : "linearized" or "trained"
        "linearized": each network's linearisation, by gradient flow with its own empirical NTK
        from its own outputs f(X; theta_0) (exact at any time, ``inf`` included; with ``ridge``);
        for k > 1 outputs the full (n k) x (n k) kernel is used. "trained": the networks
        themselves, by full-batch gradient descent with ``learning_rate``; time t is t steps, so
        times must be whole numbers (no ridge).
    learning_rate : float
    ridge : float
    seeds : sequence of int, optional
        Default 0, 1, ..., n_networks - 1.
    workers : int, optional
        Threads over seeds (default: the number of processors; the work runs outside the GIL).
    progress : True or callable, optional

    Returns
    -------
    SampledEnsemble
    """
    if not isinstance(net, (MLP, Network)):
        raise InvalidArgumentError(f"net must be an ntk.MLP or ntk.Network (its architecture is used), got "
                                   f"{type(net).__name__}")
    if mode not in ("linearized", "trained"):
        raise InvalidArgumentError(f"mode must be 'linearized' or 'trained', got {mode!r}")
    x, _, _ = net._inputs(X_train)
    xt = x if X_test is None else net._inputs(X_test, "X_test")[0]
    y = np.asarray(Y, dtype=np.float64)
    y = y.reshape(len(y), -1) if y.ndim == 1 else y
    n, k = y.shape[0], net.output_dim
    if y.shape != (x.shape[0], k):
        raise DimensionMismatchError(f"Y must have shape ({x.shape[0]}, {k}) (or ({x.shape[0]},) for one output), "
                                     f"got {np.shape(Y)}")
    t = _times(times)
    seeds = list(range(_arrays.integer(n_networks, "n_networks"))) if seeds is None else [int(s) for s in seeds]
    if len(seeds) < 2:
        raise InvalidArgumentError(f"a sampled ensemble needs at least 2 networks, got {len(seeds)}")
    eta = _arrays.scalar(learning_rate, "learning_rate")
    z = _arrays.scalar(ridge, "ridge")
    if mode == "trained":
        if z != 0:
            raise InvalidArgumentError("mode='trained' has no ridge (train the linearised networks for that)")
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise InvalidArgumentError(f"mode='trained' needs whole numbers of steps as times, got {t}")
    architecture = net._architecture()
    m = xt.shape[0]

    def one(seed):
        member = type(net)(**{**architecture, "seed": seed})
        f0, f0t = member(x).reshape(n, k), member(xt).reshape(m, k)
        if mode == "linearized":
            full = k > 1
            K = empirical_ntk(member, x, output="full" if full else "mean")
            Kt = empirical_ntk(member, xt, x, output="full" if full else "mean")
            if full:  # (n1, n2, k, k) -> (n1 k, n2 k): one flow for all outputs
                K = K.transpose(0, 2, 1, 3).reshape(n * k, n * k)
                Kt = Kt.transpose(0, 2, 1, 3).reshape(m * k, n * k)
            _, pred = gradient_flow(K, y.reshape(-1, 1), t, K_test_train=Kt, learning_rate=eta,
                                    ridge=z, f0_train=f0.reshape(-1, 1), f0_test=f0t.reshape(-1, 1))
            return pred.reshape(len(t), m, k)
        out = np.empty((len(t), m, k))
        done = 0
        for i in np.argsort(t, kind="stable"):
            steps = int(t[i]) - done
            if steps > 0:
                member.train(x, y, learning_rate=eta, epochs=steps, snapshot_epochs=[], diagnose_catapult=False)
                done += steps
            out[i] = member(xt).reshape(m, k)
        return out

    workers = workers or min(len(seeds), os.cpu_count() or 1)
    samples = np.empty((len(seeds), len(t), m, k))
    report = Callback(progress)  # a bar or callable over networks; Ctrl-C reaches the library calls
    with concurrent.futures.ThreadPoolExecutor(max_workers=_arrays.integer(workers, "workers")) as pool:
        futures = {pool.submit(one, s): i for i, s in enumerate(seeds)}
        try:
            for done, future in enumerate(concurrent.futures.as_completed(futures)):
                samples[futures[future]] = future.result()
                if report.answer((done + 1) / len(seeds)):
                    raise report.error or CancelledError("ntk.sampled_ensemble: the progress callback asked to stop")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        finally:
            if report.bar is not None:
                report.bar.close()
    return SampledEnsemble(samples, seeds, t, mode)

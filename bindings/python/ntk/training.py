"""Training networks and watching their tangent kernel move (sections 2-3 in docs/equations.md).

- :meth:`MLP.train` / :func:`train`: gradient descent or minibatch SGD with momentum, MSE or
  cross-entropy, the loss per epoch, snapshots of the empirical NTK on a probe set with their
  distances, alignment and largest eigenvalue, and catapult diagnostics;
- :func:`gradient_flow_ode`: function-space dynamics for any loss with a fixed kernel (eq. 13);
- :func:`after_kernel_predictions`: boosting (eq. 24) and the pure after-kernel predictor
  (eq. 25) with a selected ridge;
- :func:`linearization_gap`: the trained network against the linearised (initial-NTK) model.
"""

import ctypes

import numpy as np

from . import _arrays
from ._library import EPOCH_FN, SNAPSHOT_FN, ODEOptions, TrainOptions, call, choices, lib
from ._progress import Callback, wants_cancel
from .errors import DimensionMismatchError, InvalidArgumentError
from ._arrays import integer as _int
from .kernels import empirical_ntk
from .network import MLP, Network, c_function
from ._data import Problem, TargetData, square
from .regression import gradient_flow, kernel_ridge, max_learning_rate, select_ridge

#: The losses by name, with their values of the C enum ``ntk_loss``.
LOSSES = choices("ntk_loss", "NTK_LOSS_")


def _loss(loss):
    if loss not in LOSSES:
        raise InvalidArgumentError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    return LOSSES[loss]


def loss_and_gradient(net, X, Y, loss="mse"):
    """The loss of ``net`` on (X, Y) and its gradient with respect to the parameters.

    Parameters
    ----------
    net : MLP or Network
    X : array_like, (n, d), or (n, *input_shape) for a Network
    Y : array_like, (n, k)
    loss : "mse" (default) or "cross_entropy"
        As :func:`train`.

    Returns
    -------
    loss : float
    gradient : numpy.ndarray, (P,)
        d loss / d theta in the flat parameter layout.
    """
    function = c_function(net, "ntk_mlp_loss_gradient", "ntk_network_loss_gradient")
    x, px, ldx = net._inputs(X)
    data = TargetData(Y, x.shape[0], "X", outputs=net.output_dim)
    value, grad = ctypes.c_double(), np.empty(net.num_parameters)
    call(function, net._live(), x.shape[0], px, ldx, data.c.Y, data.c.ldy, _loss(loss),
         ctypes.byref(value), _arrays.pointer(grad))
    return value.value, grad


def kernel_distance(A, B):
    """The kernel distance ``1 - <A, B>_F / (|A|_F |B|_F)``: 0 for identical kernels, invariant to scaling.

    Parameters
    ----------
    A, B : array_like of one shape (e.g. (n, n))

    Returns
    -------
    float in [0, 2]
    """
    a = np.ascontiguousarray(A, dtype=np.float64)
    b = np.ascontiguousarray(B, dtype=np.float64)
    if a.shape != b.shape:
        raise DimensionMismatchError(f"kernels of different shapes {a.shape} and {b.shape}")
    out = ctypes.c_double()
    call("ntk_kernel_distance", a.size, _arrays.pointer(a), _arrays.pointer(b), ctypes.byref(out))
    return out.value


def kernel_alignment(K, Y):
    """Kernel-target alignment ``<K, Y Y^T>_F / (|K|_F |Y Y^T|_F)``.

    Parameters
    ----------
    K : array_like, (n, n)
    Y : array_like, (n, k) or (n,)

    Returns
    -------
    float in [-1, 1]

    Raises
    ------
    InvalidArgumentError
        For a zero kernel or zero targets.
    """
    k = np.ascontiguousarray(K, dtype=np.float64)
    y = np.ascontiguousarray(np.asarray(Y, dtype=np.float64).reshape(len(k), -1))
    if k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise DimensionMismatchError(f"K must be square, got {k.shape}")
    out = ctypes.c_double()
    call("ntk_kernel_alignment", k.shape[0], y.shape[1], _arrays.pointer(k), max(k.shape[0], 1), _arrays.pointer(y),
         max(y.shape[1], 1), ctypes.byref(out))
    return out.value


class TrainingHistory:
    """What :func:`train` returns.

    Attributes
    ----------
    losses : (epochs_run + 1,) training loss after each epoch (``losses[0]``: at initialisation)
    epochs_run : int
    diverged : bool — the loss became NaN/Inf (the network kept its last finite parameters)
    snapshot_epochs : list of int — epochs whose probe kernel was recorded
    kernels : (S, m, m) — the empirical NTK of the probe set at those epochs
    lambda_max : (S,) — largest eigenvalue of each probe kernel
    distance_to_initial, distance_to_previous : (S,) — kernel distances (0 for the first)
    relative_change_to_final : (S,) — ``|K_t - K_T|_F / |K_T|_F`` with K_T the last snapshot
    alignment : (S,) or None — kernel-target alignment when probe targets are known (NaN where
        undefined: all-zero targets or kernel)
    lambda_max_train_initial, lambda_max_train_final : float or None — of the training NTK
    critical_learning_rates : (2N/lambda, 4N/lambda) at initialisation, or None
    regime : "lazy", "catapult", "divergent" (or None without the training-kernel diagnostics)
    """

    def stabilization_epoch(self, epsilon):
        """The first snapshot epoch after which the probe kernel stays close to the last one.

        Parameters
        ----------
        epsilon : float
            Relative Frobenius tolerance: ``|K_t - K_T| <= epsilon |K_T|`` for every later snapshot t
            (the Proposition's assumption), K_T the last snapshot.

        Returns
        -------
        int or None
            None if no snapshot qualifies.
        """
        K = self.kernels
        for i, epoch in enumerate(self.snapshot_epochs):
            ref = np.linalg.norm(K[i])
            if all(np.linalg.norm(K[j] - K[i]) <= epsilon * ref for j in range(i, len(K))):
                return epoch
        return None

    def __repr__(self):
        return (f"TrainingHistory(epochs_run={self.epochs_run}, final_loss={self.losses[-1]:.4g}, "
                f"diverged={self.diverged}, regime={self.regime!r}, snapshots={self.snapshot_epochs})")


def train(net, X, Y, loss="mse", learning_rate=1.0, epochs=1, batch_size=None, momentum=0.0, seed=0,
          snapshot_epochs=None, X_probe=None, Y_probe=None, callback=None, diagnose_catapult=None, progress=None):
    """Trains ``net`` (an :class:`MLP` or a :class:`Network` of layers) in place by gradient descent;
    returns a :class:`TrainingHistory`.

    Parameters
    ----------
    net : MLP or Network
    X : array_like, (n, d), or (n, *input_shape) for a Network
    Y : array_like, (n, k) or (n,)
    loss : "mse" (``(1/N) sum 1/2 (f - y)^2``, N = n k) or "cross_entropy" (softmax for k > 1
        with probability/one-hot targets, logistic for k = 1 with targets in [0, 1])
    learning_rate, epochs, momentum : step ``v <- momentum v + grad``, ``theta <- theta - lr v``
    batch_size : None for full-batch gradient descent, else minibatches reshuffled per epoch
    snapshot_epochs : epochs (0..epochs) at which the empirical NTK of the probe set is taken;
        default: about 10 epochs spread over the run, 0 and the last included
    X_probe, Y_probe : the probe set (default: the first min(n, 256) training rows and targets)
    callback : ``callback(epoch, loss)``, return False to stop
    progress : True for a progress bar over the epochs, or ``progress(fraction)``; returning
        False stops training like the callback. Ctrl-C stops training after the running epoch
        and raises ``KeyboardInterrupt`` (the network keeps that epoch's parameters).
    diagnose_catapult : compute the training-set NTK's largest eigenvalue at the start and the
        end (two kernels and eigendecompositions of size n) and classify the regime; default
        when n <= 2048
    """
    function = getattr(lib, c_function(net, "ntk_mlp_train", "ntk_network_train"))
    x, px, ldx = net._inputs(X)
    n = x.shape[0]
    data = TargetData(Y, n, "X", outputs=net.output_dim)
    y, py, ldy = data.y, data.c.Y, data.c.ldy
    epochs = _int(epochs, "epochs")
    if epochs < 0:
        raise InvalidArgumentError(f"epochs must be >= 0, got {epochs}")
    if snapshot_epochs is None:
        snapshot_epochs = sorted(set(np.linspace(0, epochs, min(epochs + 1, 11)).round().astype(int).tolist()))
    snaps = np.array(sorted(set(_int(e, "snapshot epoch") for e in snapshot_epochs)), dtype=np.int64)
    if X_probe is None:
        m = min(n, 256)
        probe, probe_y = x[:m], y[:m]
    else:
        probe = net._inputs(X_probe, "X_probe")[0]
        probe_y = None if Y_probe is None else TargetData(Y_probe, probe.shape[0], "X_probe", outputs=net.output_dim).y
    probe = np.ascontiguousarray(probe)
    m = probe.shape[0]
    batch = 0 if batch_size is None else _int(batch_size, "batch_size")
    if batch_size is not None and batch < 1:
        raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
    diagnose = n <= 2048 if diagnose_catapult is None else bool(diagnose_catapult)
    k = net.output_dim
    lam0 = max_learning_rate(empirical_ntk(net, x), n * k) if diagnose else None  # 2N / lambda

    losses = np.empty(epochs + 1)
    kernels, lambda_max, reached = [], [], []
    run, diverged = ctypes.c_int64(), ctypes.c_int()
    cb = Callback(progress)

    def on_epoch(_user, epoch, value):
        if cb.answer(epoch / max(epochs, 1)):  # Ctrl-C, or the progress reporter stops
            return 1
        if callback is None:
            return 0
        try:
            return 1 if wants_cancel(callback(int(epoch), float(value))) else 0
        except BaseException as e:  # noqa: BLE001 - re-raised by cb.call
            cb.error = e
            return 1

    def on_snapshot(_user, epoch, kernel, rows, lam):
        reached.append(int(epoch))
        kernels.append(np.ctypeslib.as_array(kernel, shape=(rows, rows)).copy() if rows else np.empty((0, 0)))
        lambda_max.append(float(lam))
        return 0

    c_epoch = EPOCH_FN(on_epoch)
    c_snapshot = SNAPSHOT_FN(on_snapshot)
    options = TrainOptions(loss=_loss(loss), learning_rate=_arrays.scalar(learning_rate, "learning_rate"),
                           batch_size=batch, momentum=_arrays.scalar(momentum, "momentum"),
                           seed=_int(seed, "seed") & (2**64 - 1), epoch_callback=c_epoch,
                           num_snapshots=len(snaps),
                           snapshot_epochs=snaps.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
                           m=m, X_probe=_arrays.pointer(probe), ldprobe=max(net.input_dim, 1),
                           snapshot_callback=c_snapshot)
    cb.answer(0.0)  # the bar starts before the first epoch
    cb.call(function, net._live(), n, px, ldx, py, ldy, epochs, ctypes.byref(options),
            _arrays.pointer(losses), ctypes.byref(run), ctypes.byref(diverged))

    h = TrainingHistory()
    h.epochs_run, h.diverged = run.value, bool(diverged.value)
    h.losses = losses[:h.epochs_run + 1]
    h.snapshot_epochs = reached
    h.kernels = np.array(kernels).reshape(len(reached), m, m)
    h.lambda_max = np.array(lambda_max)
    _kernel_movement(h, probe_y)
    h.lambda_max_train_initial = h.lambda_max_train_final = h.critical_learning_rates = h.regime = None
    if diagnose:
        _diagnose_catapult(h, lam0, 2 * n * k / max_learning_rate(empirical_ntk(net, x), n * k), n * k)
    return h


def _kernel_movement(h, probe_y):
    """The snapshot kernels' distances (to the first, to the previous), relative change to the
    last, and alignment with the probe targets (None without them), into the history ``h``."""
    S = len(h.snapshot_epochs)
    h.distance_to_initial = np.array([_distance(h.kernels[0], K) for K in h.kernels]) if S else np.empty(0)
    h.distance_to_previous = (np.array([0.0] + [_distance(h.kernels[i - 1], h.kernels[i]) for i in range(1, S)])
                              if S else np.empty(0))
    h.relative_change_to_final = (np.array([np.linalg.norm(K - h.kernels[-1]) / np.linalg.norm(h.kernels[-1])
                                            for K in h.kernels]) if S else np.empty(0))
    h.alignment = (np.array([kernel_alignment(K, probe_y) if np.any(K) and np.any(probe_y) else np.nan
                             for K in h.kernels])
                   if probe_y is not None and S else None)


def _diagnose_catapult(h, lam0, lambda_final, N):
    """The training-set NTK's largest eigenvalue before (from the critical rate ``lam0`` = 2N/λ)
    and after training, the critical learning rates, and the regime (lazy, catapult, divergent)."""
    h.lambda_max_train_initial = 2 * N / lam0
    h.critical_learning_rates = (lam0, 2 * lam0)
    h.lambda_max_train_final = lambda_final
    first, last = h.losses[0], h.losses[-1]
    if h.diverged or not last < first:
        h.regime = "divergent"
    elif np.max(h.losses) > first and h.lambda_max_train_final < h.lambda_max_train_initial:
        h.regime = "catapult"
    else:
        h.regime = "lazy"


def _distance(A, B):
    """Kernel distance, NaN when a kernel is zero (a dead network: the distance is undefined)."""
    return kernel_distance(A, B) if np.any(A) and np.any(B) else np.nan


MLP.train = Network.train = train
MLP.loss_and_gradient = Network.loss_and_gradient = loss_and_gradient


def gradient_flow_ode(K_train, Y, times, loss="mse", K_test_train=None, learning_rate=1.0, f0_train=None, f0_test=None,
                      rtol=1e-10, atol=1e-12, progress=None):
    """Function-space gradient flow for any loss with a fixed kernel (eq. 13), by adaptive Dormand-Prince 5(4).

    ``df/dt = -eta K grad_f L(f)`` on the training points, driving the test points through
    ``K_test_train``. For "mse" the closed form :func:`ntk.gradient_flow` is exact and faster.

    Parameters
    ----------
    K_train : array_like, (n, n)
    Y : array_like, (n, k) or (n,)
        "cross_entropy" takes one-hot or probability targets (k > 1) or labels in [0, 1] (k = 1).
    times : array_like, (T,)
        Finite times >= 0.
    loss : "mse" (default) or "cross_entropy"
    K_test_train : array_like, (m, n), optional
    learning_rate : float
    f0_train, f0_test : array_like, optional
    rtol, atol : float
        The step-size control's tolerances.
    progress : True or callable, optional

    Returns
    -------
    pred_train : numpy.ndarray, (T, n, k) — or (T, n) for a 1-D Y
    pred_test : numpy.ndarray, (T, m, k) — or (T, m); None without ``K_test_train``
    """
    k_, pk, ldk = square(K_train, "K_train")
    n = k_.shape[0]
    data = Problem(n, Y, f0_train, K_test_train, f0_test)
    t, pt = _arrays.vector(times, "times")
    train_out = np.empty((len(t), n, data.k))
    test_out = np.empty((len(t), data.m, data.k)) if data.test is not None else None
    cb = Callback(progress)
    options = ODEOptions(learning_rate=_arrays.scalar(learning_rate, "learning_rate"),
                         rtol=_arrays.scalar(rtol, "rtol"),
                         atol=_arrays.scalar(atol, "atol"), progress=cb.c_function)
    cb.call(lib.ntk_gradient_flow_ode, n, pk, ldk, ctypes.byref(data.c), data.test_pointer(), len(t), pt,
            _loss(loss), ctypes.byref(options), _arrays.pointer(train_out),
            _arrays.NULL if test_out is None else _arrays.pointer(test_out))
    return data.shape(train_out), data.shape(test_out)


def after_kernel_predictions(net, X_train, Y, X_test, ridges=None, criterion="gcv"):
    """Predictors built on the trained network's after-kernel ``K_T = K(., .; theta_T)``.

    Parameters
    ----------
    net : MLP or Network
        The trained network.
    X_train : array_like, (n, d)
    Y : array_like, (n, k) or (n,)
    X_test : array_like, (m, d)
    ridges : array_like, optional
        Default: 25 values from 1e-8 to 1e2 times the mean diagonal of K_T.
    criterion : "gcv" (default) or "loo"

    Returns
    -------
    dict
        Test predictions, each (m, k): ``network`` f_T(X_test); ``boosting`` (eq. 24)
        f_T(x) + K_T(x, X) (z I + K_T)^-1 (Y - f_T(X)), z selected on the residuals; ``kernel``
        (eq. 25) K_T(x, X) (z~ I + K_T)^-1 Y, z~ selected on Y; and the selected ridges
        ``ridge_boosting``, ``ridge_kernel``.
    """
    K = empirical_ntk(net, X_train)
    K_test = empirical_ntk(net, X_test, X_train)
    f_train, f_test = net(X_train), net(X_test)
    y = np.asarray(Y, dtype=np.float64).reshape(f_train.shape)
    if ridges is None:
        ridges = np.geomspace(1e-8, 1e2, 25) * np.trace(K) / len(K)
    z_boost = select_ridge(K, y, ridges, criterion=criterion, f0_train=f_train).ridge
    z_kernel = select_ridge(K, y, ridges, criterion=criterion).ridge
    boosting = kernel_ridge(K, y, K_test, ridge=z_boost, f0_train=f_train, f0_test=f_test, max_jitter=1e-8)[1]
    kernel = kernel_ridge(K, y, K_test, ridge=z_kernel, max_jitter=1e-8)[1]
    return {"network": f_test, "boosting": boosting, "kernel": kernel, "ridge_boosting": z_boost,
            "ridge_kernel": z_kernel}


def linearization_gap(initial, trained, X_train, Y, X_eval, learning_rate, steps):
    """The trained network against its linearisation around the initial parameters.

    The linearised model's outputs are the kernel gradient flow with the initial NTK at time
    ``steps`` (eq. 18, 20; discrete steps match the flow when ``learning_rate * lambda_max / N`` is
    small).

    Parameters
    ----------
    initial : MLP or Network
        A copy of the network before training (``net.copy()``).
    trained : MLP or Network
        The network after ``steps`` full-batch MSE gradient-descent steps with ``learning_rate``.
    X_train : array_like, (n, d)
    Y : array_like, (n, k)
    X_eval : array_like, (m, d)
    learning_rate : float
    steps : int

    Returns
    -------
    network : numpy.ndarray, (m, k)
    linearized : numpy.ndarray, (m, k)
    gap : float
        ``|f_net - f_lin| / |f_lin - f_0|``: the movement the kernel does not explain.
    """
    K0 = empirical_ntk(initial, X_train)
    K0_eval = empirical_ntk(initial, X_eval, X_train)
    f0_train, f0_eval = initial(X_train), initial(X_eval)
    y = np.asarray(Y, dtype=np.float64).reshape(f0_train.shape)
    _, lin = gradient_flow(K0, y, [float(steps)], K0_eval, learning_rate=learning_rate, f0_train=f0_train,
                           f0_test=f0_eval)
    lin = lin[0]
    net_out = trained(X_eval)
    gap = np.linalg.norm(net_out - lin) / max(np.linalg.norm(lin - f0_eval), 1e-300)
    return net_out, lin, gap

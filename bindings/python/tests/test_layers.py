"""Networks built from layers (ntk.Network, ntk.layers): the infinite-width NNGP and NTK against a
plain numpy recursion over full position-pair covariance tensors (padding and slicing, not the
library's index tables), the MLP as a special case, and the description's errors."""

import numpy as np
import pytest

import ntk
from ntk import layers as L

W, B = 1.3, 0.2


# ---------------------------------------------------------------------------------------------
# The reference: covariances of (x1, x1), (x1, x2), (x2, x2) as tensors (spatial..., spatial...)


def _pads(n, f, s, padding):
    if padding == "VALID":
        return (0, 0), (n - f) // s + 1
    out = -(-n // s)
    total = max((out - 1) * s + f - n, 0)
    return (total // 2, total - total // 2), out


def _window(T, axes, f, s, padding):
    """(1/f) sum_a T[..., i s + a - lo, ...] with the same offset a on every axis of `axes`."""
    n = T.shape[axes[0]]
    (lo, hi), out = _pads(n, f, s, padding)
    width = [(0, 0)] * T.ndim
    for ax in axes:
        width[ax] = (lo, hi)
    P = np.pad(T, width, mode="wrap" if padding == "CIRCULAR" else "constant")
    total = 0
    for a in range(f):
        index = [slice(None)] * T.ndim
        for ax in axes:
            index[ax] = slice(a, a + (out - 1) * s + 1, s)
        total = total + P[tuple(index)]
    return total / f


def _relu(q1, q2, S):
    norm = np.sqrt(q1 * q2)
    rho = np.clip(S / norm, -1, 1)
    theta = np.arccos(rho)
    return norm * (np.sin(theta) + (np.pi - theta) * rho) / (2 * np.pi), (np.pi - theta) / (2 * np.pi)


def _erf(q1, q2, S):
    a = np.sqrt((1 + 2 * q1) * (1 + 2 * q2))
    return 2 / np.pi * np.arcsin(np.clip(2 * S / a, -1, 1)), 4 / np.pi / np.sqrt(a**2 - 4 * S**2)


def reference(spec, x1, x2, parameterization="ntk"):
    """(nngp, ntk) of one pair of inputs (arrays of the input shape) by the recursion."""
    D = x1.ndim - 1
    C = x1.shape[-1]
    letters = "abc"[:D]
    pair = f"{letters}z,{letters.upper()}z->{''.join(letters[i] + letters[i].upper() for i in range(D))}"

    def inputs(u, v):  # tensor with axes (p0, p0', p1, p1', ...) -> reorder to (p..., p'...)
        T = np.einsum(pair, u, v) / C
        return np.transpose(T, [2 * i for i in range(D)] + [2 * i + 1 for i in range(D)])

    state = {key: [inputs(u, v), np.zeros_like(inputs(u, v))]
             for key, (u, v) in {"11": (x1, x1), "12": (x1, x2), "22": (x2, x2)}.items()}
    channels, dims = C, D

    def diag(T):  # Sigma(p, p) of a self tensor
        S = dims_size(T)
        return np.diag(T.reshape(S, S)).reshape(T.shape[:dims]) if dims else T

    def dims_size(T):
        return int(np.prod(T.shape[:dims])) if dims else 1

    def run(spec):
        nonlocal channels, dims
        for kind, *args in spec:
            if kind in ("dense", "conv"):
                fan_in = channels
                if kind == "conv":
                    width, window, padding = args
                    for k in range(dims):
                        for key in state:
                            state[key] = [_window(T, (k, k + dims), window[k], 1, padding) for T in state[key]]
                    fan_in *= int(np.prod(window))
                channels = args[0]
                for key, (S, T) in state.items():
                    if parameterization == "ntk":
                        S = W**2 * S + B**2
                        state[key] = [S, S + W**2 * T]
                    else:
                        state[key] = [W**2 * S + B**2, fan_in * S + 1 + W**2 * T]
            elif kind == "avgpool":
                window, strides = args
                for k in range(dims):
                    for ax in (k, k + dims):
                        for key in state:
                            state[key] = [_window(T, (ax,), window[k], strides[k], "VALID") for T in state[key]]
            elif kind in ("relu", "erf", "layernorm"):
                q1, q2 = diag(state["11"][0]), diag(state["22"][0])
                for key, (a, b) in {"11": (q1, q1), "12": (q1, q2), "22": (q2, q2)}.items():
                    S, T = state[key]
                    Q1, Q2 = (np.multiply.outer(a, np.ones_like(b)), np.multiply.outer(np.ones_like(a), b)) \
                        if dims else (a, b)
                    if kind == "layernorm":
                        scale = 1 / np.sqrt((1e-12 + Q1) * (1e-12 + Q2))
                        state[key] = [S * scale, T * scale]
                    else:
                        value, slope = (_relu if kind == "relu" else _erf)(Q1, Q2, S)
                        state[key] = [value, T * slope]
            elif kind == "flatten":
                channels *= dims_size(state["11"][0])
                for key, (S, T) in state.items():
                    P = dims_size(S)
                    state[key] = [np.trace(S.reshape(P, P)) / P, np.trace(T.reshape(P, P)) / P]
                dims = 0
            elif kind == "gap":
                for key, (S, T) in state.items():
                    state[key] = [np.mean(S), np.mean(T)]
                dims = 0
            elif kind == "residual":
                saved = {key: list(v) for key, v in state.items()}
                run(args[0])
                for key in state:
                    state[key] = [state[key][0] + saved[key][0], state[key][1] + saved[key][1]]
    run(spec)
    return float(state["12"][0]), float(state["12"][1])


def layer_list(spec):
    build = {"conv": lambda c, w, p: L.Conv(c, w, padding=p), "relu": lambda: L.Activation("relu"),
             "erf": lambda: L.Activation("erf"), "layernorm": L.LayerNorm, "avgpool": L.AvgPool,
             "gap": L.GlobalAvgPool, "flatten": L.Flatten, "dense": L.Dense,
             "residual": lambda block: L.Residual(*layer_list(block))}
    return [build[kind](*args) for kind, *args in spec]


def network(spec, shape, **kw):
    return ntk.Network(layer_list(spec), input_shape=shape, W_std=W, b_std=B, **kw)


CONV = ("conv", 3, (3, 3), "SAME")
CASES = {
    "flatten": [CONV, ("relu",), ("conv", 3, (3, 3), "VALID"), ("erf",), ("flatten",), ("dense", 1)],
    "gap": [CONV, ("relu",), CONV, ("relu",), ("gap",), ("dense", 1)],
    "circular-pool": [("conv", 3, (3, 2), "CIRCULAR"), ("erf",), ("avgpool", (2, 2), (2, 1)), ("flatten",),
                      ("dense", 2)],
    "residual-layernorm": [CONV, ("residual", [("relu",), CONV, ("layernorm",), ("relu",), CONV]), ("relu",),
                           ("gap",), ("dense", 1)],
    "dense-per-position": [CONV, ("erf",), ("dense", 4), ("relu",), ("flatten",), ("dense", 1)],
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_kernels_match_the_numpy_recursion(case, parameterization):
    rng = np.random.default_rng(1)
    X1, X2 = rng.standard_normal((3, 6, 5, 2)), rng.standard_normal((2, 6, 5, 2))
    net = network(CASES[case], (6, 5, 2), parameterization=parameterization)
    nngp, ntk_ = ntk.infinite_width_kernels(net, X1, X2)
    for i in range(3):
        for j in range(2):
            s, t = reference(CASES[case], X1[i], X2[j], parameterization)
            assert nngp[i, j] == pytest.approx(s, rel=1e-12)
            assert ntk_[i, j] == pytest.approx(t, rel=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_kernels_agree_with_float64(case):
    """dtype=np.float32 against float64 on the same float32-rounded inputs (which the numpy
    recursion checks above): within 2e-6 of the largest entry, float32 outputs, not equal to
    float64, a symmetric kernel exactly symmetric."""
    rng = np.random.default_rng(2)
    X1 = rng.standard_normal((5, 6, 5, 2)).astype(np.float32)
    X2 = rng.standard_normal((3, 6, 5, 2)).astype(np.float32)
    net = network(CASES[case], (6, 5, 2))
    for second in (None, X2):
        want = ntk.infinite_width_kernels(net, X1.astype(np.float64), None if second is None else X2.astype(float))
        got = ntk.infinite_width_kernels(net, X1, second, dtype=np.float32)
        for g, w in zip(got, want):
            assert g.dtype == np.float32 and g.shape == w.shape
            gap = np.max(np.abs(g.astype(np.float64) - w))
            assert 1e-12 * np.max(np.abs(w)) < gap < 2e-6 * np.max(np.abs(w))
            if second is None:
                assert np.array_equal(g, g.T)


def test_one_dimensional_convolutions_on_sequences():
    spec = [("conv", 2, (3,), "SAME"), ("erf",), ("conv", 2, (4,), "VALID"), ("relu",), ("gap",), ("dense", 1)]
    rng = np.random.default_rng(2)
    X1, X2 = rng.standard_normal((2, 9, 3)), rng.standard_normal((2, 9, 3))
    nngp, ntk_ = ntk.infinite_width_kernels(network(spec, (9, 3)), X1, X2)
    for i in range(2):
        for j in range(2):
            assert (nngp[i, j], ntk_[i, j]) == pytest.approx(reference(spec, X1[i], X2[j]), rel=1e-12)


def test_symmetric_kernels_are_symmetric_with_the_diagonal_of_each_input():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 6, 5, 2))
    for case in ("gap", "flatten"):
        net = network(CASES[case], (6, 5, 2))
        nngp, ntk_ = ntk.infinite_width_kernels(net, X)
        two_sided = ntk.infinite_width_kernels(net, X, X)
        off = ~np.eye(5, dtype=bool)
        np.testing.assert_array_equal(nngp, nngp.T)
        np.testing.assert_array_equal(ntk_, ntk_.T)
        np.testing.assert_allclose(nngp[off], two_sided[0][off], rtol=1e-13)
        np.testing.assert_allclose(ntk_[off], two_sided[1][off], rtol=1e-13)
        d_nngp, d_ntk = ntk.infinite_width_diagonal(net, X)
        np.testing.assert_array_equal(np.diag(nngp), d_nngp)
        np.testing.assert_array_equal(np.diag(ntk_), d_ntk)
        # The diagonal with rho = 1 exactly at equal positions: the clipped arccos of the two-sided
        # form may differ there in the 8th digit (relu's square-root singularity), no more.
        np.testing.assert_allclose(np.diag(ntk_), np.diag(two_sided[1]), rtol=1e-7)


def test_erf_diagonal_matches_the_recursion_on_each_input():
    spec = [CONV, ("erf",), CONV, ("erf",), ("gap",), ("dense", 1)]
    X = np.random.default_rng(4).standard_normal((2, 5, 5, 2))
    nngp, ntk_ = ntk.infinite_width_diagonal(network(spec, (5, 5, 2)), X)
    for i in range(2):
        assert (nngp[i], ntk_[i]) == pytest.approx(reference(spec, X[i], X[i]), rel=1e-12)


@pytest.mark.parametrize("activation", ["relu", "erf", "tanh", "gelu"])
def test_a_dense_network_is_the_mlp(activation):
    X = np.random.default_rng(5).standard_normal((6, 7))
    net = ntk.Network([L.Dense(5), L.Activation(activation), L.Dense(5), L.Activation(activation), L.Dense(1)],
                      input_shape=(7,), W_std=1.4, b_std=0.3)
    mlp = ntk.MLP(7, [5, 5], 1, activation=activation, W_std=1.4, b_std=0.3)
    for ours, theirs in zip(ntk.infinite_width_kernels(net, X), ntk.infinite_width_kernels(mlp, X)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13)


def test_images_flattened_by_rows_give_the_same_kernels():
    X = np.random.default_rng(6).standard_normal((3, 6, 5, 2))
    net = network(CASES["gap"], (6, 5, 2))
    np.testing.assert_array_equal(ntk.infinite_width_ntk(net, X), ntk.infinite_width_ntk(net, X.reshape(3, -1)))


def test_parameter_count_and_info():
    net = ntk.Network([L.Conv(4, (3, 3)), L.Activation("relu"), L.Residual(L.Conv(4, (3, 1))), L.Flatten(),
                       L.Dense(3)], input_shape=(5, 6, 2))
    assert (net.input_dim, net.output_dim) == (60, 3)
    assert net.num_parameters == (9 * 2 * 4 + 4) + (3 * 4 * 4 + 4) + (5 * 6 * 4 * 3 + 3)
    no_bias = ntk.Network(net.layers, input_shape=(5, 6, 2), bias=False)
    assert no_bias.num_parameters == 9 * 2 * 4 + 3 * 4 * 4 + 5 * 6 * 4 * 3


def test_progress_reaches_one_and_cancels():
    X = np.random.default_rng(7).standard_normal((12, 6, 5, 2))
    net = network(CASES["gap"], (6, 5, 2))
    seen = []
    ntk.infinite_width_kernels(net, X, progress=seen.append)
    assert seen[-1] == 1.0 and all(a <= b for a, b in zip(seen, seen[1:]))
    with pytest.raises(ntk.CancelledError):
        ntk.infinite_width_kernels(net, X, progress=lambda f: f > 0.3)


def test_pooled_kernels_keep_to_the_memory_budget():
    """A pooled network's per-thread position-pair tensors count against the memory budget: one
    thread when two do not fit (the same kernel), an OutOfMemoryError naming the work when one
    does not."""
    X = np.random.default_rng(8).standard_normal((6, 12, 12, 1))
    net = network(CASES["gap"], (12, 12, 1))   # 144^2 position pairs = 166 KB per tensor
    want = ntk.infinite_width_ntk(net, X)
    previous = ntk.memory_budget()
    try:
        ntk.set_memory_budget(1_000_000)       # one worker's 3 tensors + variances, not two workers'
        np.testing.assert_array_equal(ntk.infinite_width_ntk(net, X), want)
        ntk.set_memory_budget(300_000)         # not even one worker
        with pytest.raises(ntk.OutOfMemoryError, match="infinite-width kernels of this network"):
            ntk.infinite_width_ntk(net, X)
    finally:
        ntk.set_memory_budget(previous)


@pytest.mark.parametrize("layers, shape, message", [
    ([L.Conv(2, (5, 5), padding="VALID"), L.Flatten(), L.Dense(1)], (4, 4, 1), "does not fit"),
    ([L.Conv(2, (3,)), L.Flatten(), L.Dense(1)], (4, 4, 1), "kernel_size has 1 entries"),
    ([L.Conv(2, 3, strides=0), L.Flatten(), L.Dense(1)], (4, 4, 1), "strides must be"),
    ([L.Dense(3), L.AvgPool(2), L.Dense(1)], (5,), "needs a spatial input"),
    ([L.Dense(3), L.GlobalAvgPool(), L.Dense(1)], (5,), "needs a spatial input"),
    ([L.Conv(2, 3), L.Residual(L.Conv(3, 3)), L.Flatten(), L.Dense(1)], (4, 4, 1), "keep the shape"),
    ([L.Conv(2, 3), L.Dense(1)], (4, 4, 1), "end with Flatten"),
    ([L.Conv(2, 3, padding="REFLECT"), L.Flatten(), L.Dense(1)], (4, 4, 1), "padding"),
    ([L.Dense(0)], (5,), "width must be"),
    ([L.Dense(2, W_std=-1.0)], (5,), "W_std"),
    ([L.LayerNorm(eps=-1.0), L.Dense(1)], (5,), "epsilon"),
    ([], (5,), "at least one layer"),
])
def test_descriptions_that_do_not_compose_are_rejected(layers, shape, message):
    with pytest.raises(ntk.InvalidArgumentError, match=message):
        ntk.Network(layers, input_shape=shape)


def test_bad_layer_objects_and_shapes():
    with pytest.raises(ntk.InvalidArgumentError, match="ntk.layers layer"):
        ntk.Network([L.Dense(1), "relu"], input_shape=(3,))
    with pytest.raises(ntk.InvalidArgumentError, match="activation"):
        L.Activation("swish")
    with pytest.raises(ntk.InvalidArgumentError, match="input_shape"):
        ntk.Network([L.Dense(1)], input_shape=(1, 2, 3, 4, 5))
    with pytest.raises(ntk.InvalidArgumentError, match="input shape entries"):
        ntk.Network([L.Dense(1)], input_shape=(0,))


@pytest.mark.parametrize("layers, message", [
    ([L.Activation("relu"), L.Flatten(), L.Dense(1)], "input of layer 0"),
    ([L.Conv(2, 3), L.Flatten(), L.Activation("relu"), L.Dense(1)], "input of layer 2"),
    ([L.LayerNorm(), L.Flatten(), L.Dense(1)], "input of layer 0"),
    ([L.Conv(2, 3), L.Activation("relu"), L.Residual(L.Conv(2, 3)), L.Flatten(), L.Dense(1)], "so that input"),
    ([L.Conv(2, 3), L.Residual(L.Conv(2, 3), L.Activation("relu")), L.Flatten(), L.Dense(1)], "block must end"),
])
def test_networks_without_a_gaussian_limit_are_rejected_for_infinite_width(layers, message):
    net = ntk.Network(layers, input_shape=(4, 4, 1))  # a valid finite network
    with pytest.raises(ntk.InvalidArgumentError, match=message):
        ntk.infinite_width_kernels(net, np.ones((2, 4, 4, 1)))


def test_inputs_are_checked():
    net = network(CASES["gap"], (6, 5, 2))
    with pytest.raises(ntk.DimensionMismatchError, match="shape"):
        ntk.infinite_width_kernels(net, np.ones((2, 5, 6, 2)))
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.infinite_width_kernels(net, np.ones((2, 61)))
    X = np.ones((2, 6, 5, 2))
    X[1, 2, 3, 0] = np.nan
    with pytest.raises(ntk.NonFiniteError):
        ntk.infinite_width_kernels(net, X)
    with pytest.raises(ntk.NonFiniteError, match=r"X1 \(row 1"):
        ntk.empirical_ntk(net, X)


def test_zero_inputs_without_bias_are_exact():
    """Zero variances take the degenerate path: relu(0) = 0 everywhere, so the kernels vanish."""
    net = ntk.Network([L.Conv(2, 3), L.Activation("relu"), L.GlobalAvgPool(), L.Dense(1)], input_shape=(4, 4, 1),
                      b_std=0.0)
    X = np.zeros((2, 4, 4, 1))
    X[1, 0, 0, 0] = 1.0
    nngp, ntk_ = ntk.infinite_width_kernels(net, X)
    assert np.all(np.isfinite(nngp)) and nngp[0, 0] == 0 and nngp[0, 1] == 0 and nngp[1, 1] > 0

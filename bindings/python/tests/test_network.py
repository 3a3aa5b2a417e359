"""Dense networks and their empirical NTK against independent computations: a numpy forward
pass, central finite differences of the forward pass for the Jacobian, the Jacobian contraction
for the structured kernel, and a tiny network's gradients written out by hand."""

import itertools
import zlib

import numpy as np
import pytest
from scipy.special import erf

import ntk

NUMPY_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.1 * z),
    "abs": np.abs,
    "tanh": np.tanh,
    "erf": erf,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "softplus": lambda z: np.logaddexp(0, z),
    "sin": np.sin,
}
assert set(NUMPY_ACTIVATIONS) == set(ntk.ACTIVATIONS)


def make(d, widths, k, activation, parameterization="ntk", bias=True, seed=3, b_std=0.4, W_std=1.3):
    return ntk.MLP(d, widths, output_dim=k, activation=activation, W_std=W_std, b_std=b_std,
                   parameterization=parameterization, bias=bias, seed=seed, leaky_slope=0.1)


def numpy_forward(net, X):
    """The forward pass written from the documented conventions, on net.parameters."""
    params = net.parameters
    sizes = [net.input_dim, *net.widths, net.output_dim]
    h = np.asarray(X, float)
    i = 0
    for layer, fan_in in enumerate(sizes[:-1]):
        W = params[i]
        i += 1
        b = params[i] if net.bias else 0.0
        i += net.bias
        if net.parameterization == "ntk":
            z = net.W_std / np.sqrt(fan_in) * h @ W + net.b_std * b
        else:
            z = h @ W + b
        h = NUMPY_ACTIVATIONS[net.activation](z) if layer < len(sizes) - 2 else z
    return h


def rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


CASES = list(itertools.product(sorted(ntk.ACTIVATIONS), ["ntk", "standard"], [0, 1, 2, 3, 4], [1, 3], [True, False]))


@pytest.mark.parametrize("activation,parameterization,depth,k,bias", CASES)
def test_forward_and_jacobian(activation, parameterization, depth, k, bias):
    # A seed per case that is the same in every process (str hashes are salted per process).
    rng = np.random.default_rng(zlib.crc32(repr((activation, parameterization, depth, k, bias)).encode()))
    widths = [3, 4, 3, 2][:depth]
    net = make(2, widths, k, activation, parameterization, bias)
    X = rng.standard_normal((3, 2))
    f = net(X)
    assert f.shape == (3, k)
    assert rel(f, numpy_forward(net, X)) < 1e-13
    J = net.jacobian(X)
    assert J.shape == (3, k, net.num_parameters)
    theta = net.flat_parameters
    h = 1e-5
    fd = np.empty_like(J)
    for p in range(net.num_parameters):
        up, down = theta.copy(), theta.copy()
        up[p] += h
        down[p] -= h
        net.set_flat_parameters(up)
        f_up = net(X)
        net.set_flat_parameters(down)
        fd[:, :, p] = (f_up - net(X)) / (2 * h)
    net.set_flat_parameters(theta)
    # Central differences: truncation O(h^2 f''') ~ 1e-10, rounding O(eps/h) ~ 1e-11.
    assert np.max(np.abs(J - fd)) < 1e-7 * max(1.0, np.max(np.abs(J)))


@pytest.mark.parametrize("activation", sorted(ntk.ACTIVATIONS))
@pytest.mark.parametrize("k", [1, 3])
def test_structured_equals_jacobian_contraction(activation, k, rng):
    net = make(5, [7, 6], k, activation, b_std=0.3)
    X1, X2 = rng.standard_normal((9, 5)), rng.standard_normal((4, 5))
    J1, J2 = net.jacobian(X1), net.jacobian(X2)
    for output in ("mean", "per_output", "full"):
        s = ntk.empirical_ntk(net, X1, X2, output=output)
        j = ntk.empirical_ntk(net, X1, X2, output=output, method="jacobian")
        c = ntk.jacobian_ntk(J1, J2, output=output)
        assert rel(s, j) < 1e-12 and rel(s, c) < 1e-12, output
    # Mean form from the Jacobian by plain numpy.
    want = np.einsum("ikp,jkp->ij", J1, J2) / k
    assert rel(ntk.empirical_ntk(net, X1, X2), want) < 1e-12


def test_symmetric_kernel_equals_two_sided_and_is_symmetric(rng):
    net = make(4, [20, 10], 2, "erf")
    X = rng.standard_normal((300, 4))
    for output in ("mean", "per_output", "full"):
        sym = ntk.empirical_ntk(net, X, output=output)
        two = ntk.empirical_ntk(net, X, X, output=output)
        assert rel(sym, two) < 1e-12
        axes = (1, 0) + tuple(range(2, sym.ndim))[::-1]  # K(x, x')_cc' = K(x', x)_c'c
        assert np.array_equal(sym, np.transpose(sym, axes))


def test_memory_limit_blocks_give_the_same_kernel(rng):
    net = make(6, [40, 30], 2, "gelu")
    X1, X2 = rng.standard_normal((330, 6)), rng.standard_normal((150, 6))
    for X2_ in (None, X2):
        whole = ntk.empirical_ntk(net, X1, X2_, output="per_output")
        blocked = ntk.empirical_ntk(net, X1, X2_, output="per_output", memory_limit=20_000)  # 64-row blocks
        assert rel(blocked, whole) < 1e-12


def test_float32_kernel_agrees_with_a_float64_jacobian_contraction(rng):
    """dtype=float32: a float32 kernel within 2e-6 of the largest entry of the float64 Jacobian
    contraction of the same (float32-rounded) inputs and parameters, in every form; a float32 row
    slice of a wider array is read through its leading dimension."""
    net = make(5, [64, 48], 3, "tanh", b_std=0.3)
    net.set_parameters([np.float32(p).astype(np.float64) for p in net.parameters])
    wide = rng.standard_normal((80, 9)).astype(np.float32)
    X1, X2 = wide[:, :5], rng.standard_normal((11, 5)).astype(np.float32)
    assert X1.strides[0] == 36  # not contiguous: passed with its leading dimension
    J1, J2 = net.jacobian(X1.astype(np.float64)), net.jacobian(X2.astype(np.float64))
    want = {"mean": np.einsum("ikp,jkp->ij", J1, J2) / 3, "per_output": np.einsum("ikp,jkp->ijk", J1, J2),
            "full": np.einsum("ikp,jlp->ijkl", J1, J2)}
    for output, expected in want.items():
        for method in ("structured", "jacobian"):
            got = ntk.empirical_ntk(net, X1, X2, output=output, method=method, dtype=np.float32)
            assert got.dtype == np.float32 and got.shape == expected.shape
            assert 1e-12 < rel(got.astype(np.float64), expected) < 2e-6, (output, method)
    sym = ntk.empirical_ntk(net, X1, dtype="float32")
    assert sym.dtype == np.float32 and np.array_equal(sym, sym.T)
    assert rel(sym.astype(np.float64), np.einsum("ikp,jkp->ij", J1, J1) / 3) < 2e-6


def test_float32_jacobian_agrees_with_float64(rng):
    net = make(4, [32, 16], 2, "gelu")
    net.set_parameters([np.float32(p).astype(np.float64) for p in net.parameters])
    X = rng.standard_normal((50, 4)).astype(np.float32)
    J = net.jacobian(X.astype(np.float64))
    J32 = net.jacobian(X, dtype=np.float32)
    assert J32.dtype == np.float32 and J32.shape == J.shape
    assert 1e-12 < rel(J32.astype(np.float64), J) < 1e-6
    with pytest.raises(ntk.InvalidArgumentError, match="dtype"):
        net.jacobian(X, dtype=np.float16)


def test_float32_bad_arguments(rng):
    net = make(3, [8], 1, "relu")
    X = rng.standard_normal((4, 3))
    with pytest.raises(ntk.InvalidArgumentError, match="dtype"):
        ntk.empirical_ntk(net, X, dtype=np.int32)
    with pytest.raises(ntk.InvalidArgumentError, match="dtype"):
        ntk.empirical_ntk(net, X, dtype="not a type")
    layered = ntk.Network([ntk.layers.Dense(4), ntk.layers.Activation("relu"), ntk.layers.Dense(1)], input_shape=(3,))
    with pytest.raises(ntk.InvalidArgumentError, match="float32"):
        ntk.empirical_ntk(layered, X, dtype=np.float32)
    X[1, 2] = np.nan
    with pytest.raises(ntk.NonFiniteError, match="X1"):
        ntk.empirical_ntk(net, X, dtype=np.float32)
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.empirical_ntk(net, X[:, :2], dtype=np.float32)
    X[1, 2] = 1e39  # finite in float64, infinite in float32
    with pytest.raises(ntk.InvalidArgumentError, match=r"X1 \(1, 2\) is 1e\+39, beyond float32's range"):
        ntk.empirical_ntk(net, X, dtype=np.float32)
    X[1, 2] = 1e20  # representable, but the kernel (~|x|^2) overflows float32 and not float64
    assert np.isfinite(ntk.empirical_ntk(net, X)).all()
    with pytest.raises(ntk.NumericalError, match="too large for single precision.*use double precision"):
        ntk.empirical_ntk(net, X, dtype=np.float32)


def test_diagonal(rng):
    net = make(3, [8], 3, "softplus")
    X = rng.standard_normal((25, 3))
    full = ntk.empirical_ntk(net, X, output="per_output")
    assert rel(ntk.empirical_ntk_diagonal(net, X, output="per_output"), np.einsum("iic->ic", full)) < 1e-13
    assert rel(ntk.empirical_ntk_diagonal(net, X), np.diag(ntk.empirical_ntk(net, X))) < 1e-13
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.empirical_ntk_diagonal(net, X, output="full")


def test_hand_worked_network():
    """d = 1, one hidden relu layer of 2 units, one output, NTK parameterization, W_std = 1,
    b_std = 1: f(x) = (1/sqrt 2) sum_j v_j relu(w_j x + b_j) + c, gradients by hand."""
    net = ntk.MLP(1, [2], activation="relu", W_std=1.0, b_std=1.0)
    w, b, v, c = np.array([1.5, -0.5]), np.array([0.2, 0.1]), np.array([0.7, -1.2]), 0.3
    net.set_parameters([w[None, :], b, v[:, None], np.array([c])])
    xs = np.array([0.8, -1.0, 2.0])

    def gradient(x):
        u = w * x + b
        on = (u > 0).astype(float)
        a = 1 / np.sqrt(2)
        return np.concatenate([a * v * on * x, a * v * on, a * np.maximum(u, 0), [1.0]])

    G = np.array([gradient(x) for x in xs])
    assert np.allclose(net(xs[:, None])[:, 0], [np.maximum(w * x + b, 0) @ v / np.sqrt(2) + c for x in xs], atol=1e-15)
    assert np.allclose(net.jacobian(xs[:, None])[:, 0, :], G, atol=1e-15)
    assert np.allclose(ntk.empirical_ntk(net, xs[:, None]), G @ G.T, atol=1e-14)


def test_parameterizations_share_the_function_at_initialisation(rng):
    X = rng.standard_normal((10, 4))
    a = make(4, [16, 16], 2, "tanh", "ntk", seed=5)
    b = make(4, [16, 16], 2, "tanh", "standard", seed=5)
    assert rel(a(X), b(X)) < 1e-13
    assert not np.allclose(ntk.empirical_ntk(a, X), ntk.empirical_ntk(b, X))


def test_parameters_round_trip_and_validation(rng):
    net = make(3, [4], 2, "relu")
    params = net.parameters
    assert [p.shape for p in params] == [(3, 4), (4,), (4, 2), (2,)]
    assert net.num_parameters == 3 * 4 + 4 + 4 * 2 + 2
    params[0][0, 0] = 42.0
    net.set_parameters(params)
    assert net.parameters[0][0, 0] == 42.0
    with pytest.raises(ntk.DimensionMismatchError):
        net.set_parameters(params[:-1])
    with pytest.raises(ntk.DimensionMismatchError):
        net.set_parameters([params[0].T] + params[1:])
    bad = net.flat_parameters
    bad[3] = np.nan
    with pytest.raises(ntk.NonFiniteError):
        net.set_flat_parameters(bad)
    no_bias = make(3, [4], 2, "relu", bias=False)
    assert [p.shape for p in no_bias.parameters] == [(3, 4), (4, 2)]
    same = make(3, [4], 2, "relu")
    assert np.array_equal(same.flat_parameters, make(3, [4], 2, "relu").flat_parameters)  # seeded


def test_copy_and_pickle_keep_architecture_and_current_parameters(rng):
    import copy
    import pickle

    net = ntk.MLP(3, [5, 4], output_dim=2, activation="leaky_relu", leaky_slope=0.3, W_std=1.3, b_std=0.2,
                  parameterization="standard", seed=11)
    theta = net.flat_parameters + 0.01 * rng.standard_normal(net.num_parameters)  # not the seeded init
    net.set_flat_parameters(theta)
    X = rng.standard_normal((6, 3)) - 1.0  # negative pre-activations: the leaky slope matters
    for other in (net.copy(), pickle.loads(pickle.dumps(net)), copy.deepcopy(net)):
        assert other is not net and other._handle.value != net._handle.value
        assert other._architecture() == net._architecture()
        assert np.array_equal(other.flat_parameters, theta)
        assert np.array_equal(other(X), net(X))
    net.close()
    with pytest.raises(ntk.InvalidHandleError):
        pickle.dumps(net)


def test_bad_arguments():
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.MLP(0, [3])
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.MLP(2, [3, 0])
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.MLP(2, [3], activation="swish")
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.MLP(2, [3], W_std=-1)
    with pytest.raises(ntk.NonFiniteError):
        ntk.MLP(2, [3], b_std=np.nan)
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.MLP(2, [3], parameterization="mup")
    with pytest.raises(ntk.OutOfMemoryError):
        ntk.MLP(2**20, [2**20, 2**20, 2**20])  # 3.3e12 parameters: 26 TB, refused, not a crash
    with pytest.raises(ntk.TooLargeError):
        ntk.MLP(2, [2**31])  # beyond 32-bit BLAS
    with pytest.raises(ntk.TooLargeError):
        ntk.MLP(2**31 - 1, [2**31 - 1] * 3)  # P overflows 64 bits
    net = ntk.MLP(2, [3])
    with pytest.raises(ntk.DimensionMismatchError):
        net(np.ones((4, 3)))
    with pytest.raises(ntk.NonFiniteError):
        net(np.array([[1.0, np.inf]]))
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.empirical_ntk(net, np.ones((2, 2)), output="diag")
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.empirical_ntk(net, np.ones((2, 2)), method="autodiff")
    with pytest.raises(ntk.InvalidArgumentError):
        ntk.empirical_ntk("net", np.ones((2, 2)))
    with pytest.raises(ntk.CancelledError):
        ntk.empirical_ntk(net, np.ones((600, 2)), progress=lambda f: f < 0.2)
    with pytest.raises(ntk.DimensionMismatchError):
        ntk.jacobian_ntk(np.ones((2, 3, 4)), np.ones((2, 2, 4)))

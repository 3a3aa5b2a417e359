"""The finite ntk.Network: forward pass against a plain numpy CNN built from the documented
parameter layout, Jacobian against central finite differences, the empirical NTK against the
Jacobian's Gram matrix, and parameters."""

import numpy as np
import pytest

import ntk
from ntk import layers as L

W, B = 1.3, 0.2


def numpy_conv(h, Wt, b, window, strides, padding, scale, bias_scale):
    """A 2-D convolution by explicit windows: h (H, W, C), Wt (kh, kw, C, out)."""
    (kh, kw), (sh, sw) = window, strides
    H, Wd, _ = h.shape
    pads = []
    for n, f, s in ((H, kh, sh), (Wd, kw, sw)):
        if padding == "VALID":
            pads.append(((0, 0), (n - f) // s + 1))
        else:
            out = -(-n // s)
            total = max((out - 1) * s + f - n, 0)
            pads.append(((total // 2, total - total // 2), out))
    hp = np.pad(h, (pads[0][0], pads[1][0], (0, 0)), mode="wrap" if padding == "CIRCULAR" else "constant")
    out = np.zeros((pads[0][1], pads[1][1], Wt.shape[-1]))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            patch = hp[i * sh:i * sh + kh, j * sw:j * sw + kw, :]
            out[i, j] = np.einsum("abc,abco->o", patch, Wt)
    return scale * out + bias_scale * b


def numpy_forward(theta, x, parameterization="ntk"):
    """Conv(3, (3,3), SAME) -> tanh -> Conv(2, (2,2), strides 2, CIRCULAR) -> LayerNorm -> relu
    -> AvgPool((2,2), stride 1) -> Flatten -> Dense(2), on one (6, 5, 2) image."""
    ntk_ = parameterization == "ntk"
    offset = 0

    def take(shape):
        nonlocal offset
        size = int(np.prod(shape))
        out = theta[offset:offset + size].reshape(shape)
        offset += size
        return out

    def scales(fan_in):
        return (W / np.sqrt(fan_in), B) if ntk_ else (1.0, 1.0)

    W1, b1 = take((3, 3, 2, 3)), take((3,))
    h = np.tanh(numpy_conv(x, W1, b1, (3, 3), (1, 1), "SAME", *scales(18)))
    W2, b2 = take((2, 2, 3, 2)), take((2,))
    z = numpy_conv(h, W2, b2, (2, 2), (2, 2), "CIRCULAR", *scales(12))
    z = (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-12)
    h = np.maximum(z, 0)
    pooled = (h[:-1, :-1] + h[1:, :-1] + h[:-1, 1:] + h[1:, 1:]) / 4
    flat = pooled.reshape(-1)
    W3, b3 = take((flat.size, 2)), take((2,))
    a, c = scales(flat.size)
    return a * flat @ W3 + c * b3


def network(parameterization="ntk", seed=0):
    return ntk.Network([L.Conv(3, (3, 3)), L.Activation("tanh"), L.Conv(2, (2, 2), strides=2, padding="CIRCULAR"),
                        L.LayerNorm(), L.Activation("relu"), L.AvgPool((2, 2)), L.Flatten(), L.Dense(2)],
                       input_shape=(6, 5, 2), W_std=W, b_std=B, parameterization=parameterization, seed=seed)


@pytest.mark.parametrize("parameterization", ["ntk", "standard"])
def test_forward_matches_a_numpy_network_with_the_documented_layout(parameterization):
    net = network(parameterization)
    X = np.random.default_rng(0).standard_normal((4, 6, 5, 2))
    theta = net.flat_parameters
    want = np.array([numpy_forward(theta, x, parameterization) for x in X])
    np.testing.assert_allclose(net(X), want, rtol=1e-13, atol=1e-14)


def test_standard_parameterization_is_the_same_function_at_initialisation():
    X = np.random.default_rng(1).standard_normal((3, 6, 5, 2))
    np.testing.assert_allclose(network("ntk", seed=4)(X), network("standard", seed=4)(X), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("readout", [L.GlobalAvgPool(), L.Flatten()])
def test_jacobian_matches_finite_differences(readout):
    net = ntk.Network([L.Conv(3, (3, 3)), L.Activation("erf"), L.Residual(L.Conv(3, (3, 3)), L.LayerNorm(eps=1e-3)),
                       L.AvgPool((2, 2), strides=(2, 2)), L.Activation("gelu"), readout, L.Dense(3),
                       L.Activation("softplus"), L.Dense(2)],
                      input_shape=(6, 5, 2), W_std=W, b_std=B, seed=3)
    X = np.random.default_rng(2).standard_normal((3, 6, 5, 2))
    J = net.jacobian(X)
    theta, h = net.flat_parameters, 1e-6
    assert J.shape == (3, 2, theta.size)
    for q in range(0, theta.size, 7):
        plus, minus = theta.copy(), theta.copy()
        plus[q] += h
        minus[q] -= h
        net.set_flat_parameters(plus)
        f_plus = net(X)
        net.set_flat_parameters(minus)
        f_minus = net(X)
        np.testing.assert_allclose(J[:, :, q], (f_plus - f_minus) / (2 * h), atol=1e-8)
    net.set_flat_parameters(theta)


@pytest.mark.parametrize("output", ["mean", "per_output", "full"])
def test_empirical_ntk_is_the_jacobian_gram_matrix(output):
    net = network()
    rng = np.random.default_rng(3)
    X1, X2 = rng.standard_normal((5, 6, 5, 2)), rng.standard_normal((3, 6, 5, 2))
    J1, J2 = net.jacobian(X1), net.jacobian(X2)
    full = np.einsum("ikp,jlp->ijkl", J1, J2)
    want = {"mean": np.einsum("ijkk->ij", full) / 2, "per_output": np.einsum("ijkk->ijk", full), "full": full}[output]
    np.testing.assert_allclose(ntk.empirical_ntk(net, X1, X2, output=output), want, rtol=1e-12, atol=1e-14)
    K = ntk.empirical_ntk(net, X1, output=output, memory_limit=2 * J1[0].nbytes)  # one row per block
    np.testing.assert_array_equal(K, np.swapaxes(K, 0, 1) if output != "full" else np.transpose(K, (1, 0, 3, 2)))
    vector_products = ntk.empirical_ntk(net, X1, X2, output=output, method="vector_products")
    np.testing.assert_allclose(vector_products, want, rtol=1e-12, atol=1e-14)


def test_parameters_seed_and_errors():
    net, same, other = network(seed=5), network(seed=5), network(seed=6)
    np.testing.assert_array_equal(net.flat_parameters, same.flat_parameters)
    assert not np.array_equal(net.flat_parameters, other.flat_parameters)
    assert net.num_parameters == (18 * 3 + 3) + (12 * 2 + 2) + (2 * 2 * 2 * 2 + 2)
    theta = net.flat_parameters
    net.set_flat_parameters(theta * 2)
    np.testing.assert_array_equal(net.flat_parameters, theta * 2)
    with pytest.raises(ntk.DimensionMismatchError):
        net.set_flat_parameters(theta[:-1])
    bad = theta.copy()
    bad[4] = np.inf
    with pytest.raises(ntk.NonFiniteError):
        net.set_flat_parameters(bad)
    with pytest.raises(ntk.DimensionMismatchError):
        net(np.ones((2, 5, 6, 2)))
    with pytest.raises(ntk.NonFiniteError):
        net(np.full((1, 6, 5, 2), np.nan))


def test_copies_and_pickles_keep_architecture_and_parameters():
    import copy
    import pickle

    net = network("standard", seed=8)
    net.set_flat_parameters(net.flat_parameters * 1.5)
    X = np.random.default_rng(9).standard_normal((2, 6, 5, 2))
    for other in (net.copy(), copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert other is not net and other.parameterization == "standard" and other.input_shape == (6, 5, 2)
        np.testing.assert_array_equal(other.flat_parameters, net.flat_parameters)
        np.testing.assert_array_equal(other(X), net(X))

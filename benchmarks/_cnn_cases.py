"""The convolutional networks of bench_cnn_kernels.py, described once for both libraries.

A case is (input shape, layers) with layers as plain tuples, so that the neural-tangents side
(its own virtualenv, `_nt_cnn.py`) and libntk build the same network from one description:
("conv", channels, window, padding), ("relu",), ("avgpool", window, strides), ("gap",),
("flatten",), ("dense", width). W_std = sqrt(2), b_std = 0.1, NTK parameterization.
"""

W_STD, B_STD = 2 ** 0.5, 0.1


def _cntk(readout, size):
    conv = ("conv", 32, (3, 3), "SAME")
    return (size, size, 3), [conv, ("relu",), conv, ("relu",), (readout,), ("dense", 1)]


CASES = {
    "cntk-gap-16": _cntk("gap", 16),
    "cntk-flatten-16": _cntk("flatten", 16),
    "cntk-gap-32": _cntk("gap", 32),
    # A small finite CNN for the empirical NTK: 16 channels, 10 outputs (2,938 parameters).
    "cnn-16x16-k10": ((16, 16, 3), [("conv", 16, (3, 3), "SAME"), ("relu",), ("conv", 16, (3, 3), "SAME"), ("relu",),
                                    ("gap",), ("dense", 10)]),
}


def ntk_network(name):
    """The libntk ntk.Network of a case."""
    import ntk

    L = ntk.layers
    shape, spec = CASES[name]
    build = {"conv": lambda c, w, p: L.Conv(c, w, padding=p), "relu": lambda: L.Activation("relu"),
             "avgpool": L.AvgPool, "gap": L.GlobalAvgPool, "flatten": L.Flatten, "dense": L.Dense}
    return ntk.Network([build[kind](*args) for kind, *args in spec], input_shape=shape, W_std=W_STD, b_std=B_STD)


def _nt_serial(name):
    from neural_tangents import stax

    _, spec = CASES[name]
    build = {"conv": lambda c, w, p: stax.Conv(c, w, padding=p, W_std=W_STD, b_std=B_STD), "relu": stax.Relu,
             "avgpool": stax.AvgPool, "gap": stax.GlobalAvgPool, "flatten": stax.Flatten,
             "dense": lambda k: stax.Dense(k, W_std=W_STD, b_std=B_STD)}
    return stax.serial(*[build[kind](*args) for kind, *args in spec])


def nt_kernel_fn(name):
    """neural-tangents' kernel_fn of a case."""
    return _nt_serial(name)[2]


def nt_network_fns(name):
    """neural-tangents' (init_fn, apply_fn) of a case."""
    return _nt_serial(name)[:2]

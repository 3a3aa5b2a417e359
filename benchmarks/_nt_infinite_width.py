"""The neural-tangents side of bench_infinite_width.py, run in its own virtualenv (it needs
numpy < 2 and jax 0.4.25): infinite-width NNGP + NTK of the same architectures with nt's stax
(closed forms for relu, erf and gelu; ElementwiseNumerical, Gauss-Hermite of degree 25 — nt's
default — for tanh, sigmoid, softplus), batched in 256 x 256 tiles, float64 on the CPU.

    python _nt_infinite_width.py [--float32] INPUT.npy OUT_DIR DEPTH W_STD B_STD ACTIVATION...

With --float32, JAX runs in its default single precision (the input rounded to float32). For each
activation prints one line "activation seconds" (the best of two runs after a
compiling run) and saves the first 64 rows of both kernels to OUT_DIR/activation.npz.
"""

import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

SINGLE = "--float32" in sys.argv
if SINGLE:
    sys.argv.remove("--float32")
jax.config.update("jax_enable_x64", not SINGLE)

import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402

ACTIVATIONS = {
    "relu": lambda: stax.Relu(),
    "erf": lambda: stax.Erf(),
    "gelu": lambda: stax.Gelu(approximate=False),
    "tanh": lambda: stax.ElementwiseNumerical(jnp.tanh, deg=25),
    "sigmoid": lambda: stax.ElementwiseNumerical(jax.nn.sigmoid, deg=25),
    "softplus": lambda: stax.ElementwiseNumerical(jax.nn.softplus, deg=25),
}


def main():
    x_path, out_dir = sys.argv[1], sys.argv[2]
    depth, w_std, b_std = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    X = jnp.asarray(np.load(x_path).astype(np.float32 if SINGLE else np.float64))
    for name in sys.argv[6:]:
        layers = []
        for _ in range(depth):
            layers += [stax.Dense(1, W_std=w_std, b_std=b_std), ACTIVATIONS[name]()]
        layers.append(stax.Dense(1, W_std=w_std, b_std=b_std))
        _, _, kernel_fn = stax.serial(*layers)
        batched = nt.batch(kernel_fn, batch_size=256, store_on_device=False)
        run = lambda: batched(X, None, ("nngp", "ntk"))  # noqa: E731
        nngp, ntk_ = run()
        times = []
        for _ in range(2):
            start = time.perf_counter()
            nngp, ntk_ = run()
            np.asarray(ntk_)
            times.append(time.perf_counter() - start)
        np.savez(f"{out_dir}/{name}.npz", nngp=np.asarray(nngp)[:64], ntk=np.asarray(ntk_)[:64])
        print(name, min(times), flush=True)


if __name__ == "__main__":
    main()

"""The neural-tangents side of bench_empirical_ntk.py, run in its own virtualenv (numpy < 2,
jax 0.4.25): the empirical NTK of the same relu MLP with libntk's parameters, float64 or float32
on the CPU, with each of nt's three implementations (jacobian contraction, NTK-vector products,
structured derivatives).

    python _nt_empirical.py INPUT.npy PARAMS.npz OUT_DIR W_STD B_STD DTYPE [IMPLEMENTATION...]

PARAMS.npz holds W0, b0, W1, b1, ... (libntk's layout: W fan_in x fan_out; the layer computes
W_std/sqrt(fan_in) x W + b_std b, nt's NTK parameterization). For each implementation prints one
line "name seconds" (the best of two runs after a compiling run) and saves the first 64 rows of
the kernel to OUT_DIR/name.npy. DTYPE: float64 (jax's x64 mode) or float32 (jax's default; inputs
and parameters rounded). IMPLEMENTATION: any of jacobian, ntk_vector_products, structured
(default: all three; the first two take tens of seconds at n = 1024).
"""

import sys
import time

import jax
import numpy as np

DTYPE = sys.argv[6] if len(sys.argv) > 6 else "float64"
jax.config.update("jax_enable_x64", DTYPE == "float64")

import jax.numpy as jnp  # noqa: E402
import neural_tangents as nt  # noqa: E402
from neural_tangents import stax  # noqa: E402


def main():
    x_path, params_path, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    w_std, b_std = float(sys.argv[4]), float(sys.argv[5])
    X = jnp.asarray(np.load(x_path).astype(DTYPE))
    stored = np.load(params_path)
    layers = len(stored.files) // 2
    params, parts = [], []
    for layer in range(layers):
        W, b = stored[f"W{layer}"], stored[f"b{layer}"]
        params.append((jnp.asarray(W.astype(DTYPE)), jnp.asarray(b.astype(DTYPE))))
        parts.append(stax.Dense(W.shape[1], W_std=w_std, b_std=b_std, parameterization="ntk"))
        if layer < layers - 1:
            parts.append(stax.Relu())
            params.append(())
    _, apply_fn, _ = stax.serial(*parts)
    implementations = {"jacobian": nt.NtkImplementation.JACOBIAN_CONTRACTION,
                       "ntk_vector_products": nt.NtkImplementation.NTK_VECTOR_PRODUCTS,
                       "structured": nt.NtkImplementation.STRUCTURED_DERIVATIVES}
    for name in sys.argv[7:] or list(implementations):
        implementation = implementations[name]
        fn = jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=implementation))
        K = fn(X, None, params).block_until_ready()
        times = []
        for _ in range(2):
            start = time.perf_counter()
            K = fn(X, None, params).block_until_ready()
            times.append(time.perf_counter() - start)
        np.save(f"{out_dir}/{name}.npy", np.asarray(K)[:64])
        print(name, min(times), flush=True)


if __name__ == "__main__":
    main()

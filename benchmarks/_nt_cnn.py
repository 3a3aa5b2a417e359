"""The neural-tangents side of bench_cnn_kernels.py, run in its own virtualenv (numpy < 2, jax
0.4.25), float64 on the CPU: the infinite-width NNGP + NTK of a `_cnn_cases.py` case, or the
empirical NTK of the finite network (BATCH_SIZE "empirical").

    python _nt_cnn.py INPUT.npy OUT.npz CASE BATCH_SIZE REPEATS

BATCH_SIZE 0 is nt's default (`kernel_fn` on all pairs at once); otherwise `nt.batch` with that
batch size. "empirical": the jitted `empirical_ntk_fn` with structured derivatives
(implementation 3, nt's fastest here), the mean over outputs, at the parameters of PRNGKey(0),
which are saved (flattened in order) with the kernel. Prints "seconds S" (the best of REPEATS
runs after a compiling run) and "peak_mib M", or "failed: <error>" when the computation fails
(out of memory), and saves the kernels.
"""

import resource
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import neural_tangents as nt  # noqa: E402

from _cnn_cases import nt_kernel_fn, nt_network_fns  # noqa: E402


def main():
    x_path, out_path, case, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[5])
    batch = 0 if sys.argv[4] == "empirical" else int(sys.argv[4])
    X = jax.numpy.asarray(np.load(x_path))
    if sys.argv[4] == "empirical":
        return empirical(X, out_path, case, repeats)
    kernel_fn = nt_kernel_fn(case)
    if batch:
        kernel_fn = nt.batch(kernel_fn, batch_size=batch, store_on_device=False)
    try:
        run = lambda: [np.asarray(k) for k in kernel_fn(X, None, ("nngp", "ntk"))]  # noqa: E731
        nngp, ntk_ = run()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            nngp, ntk_ = run()
            best = min(best, time.perf_counter() - start)
    except Exception as e:  # XLA's RESOURCE_EXHAUSTED, MemoryError
        print(f"failed: {type(e).__name__}: {str(e).splitlines()[0][:160]}")
        return
    np.savez(out_path, nngp=nngp, ntk=ntk_)
    print(f"seconds {best}")
    print(f"peak_mib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}")


def empirical(X, out_path, case, repeats):
    init_fn, apply_fn = nt_network_fns(case)
    _, params = init_fn(jax.random.PRNGKey(0), X.shape)
    theta = np.concatenate([np.asarray(leaf).ravel() for leaf in jax.tree_util.tree_leaves(params)])
    fn = jax.jit(nt.empirical_ntk_fn(apply_fn, vmap_axes=0, implementation=3))
    kernel = np.asarray(fn(X, None, params))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        kernel = np.asarray(fn(X, None, params).block_until_ready())
        best = min(best, time.perf_counter() - start)
    np.savez(out_path, ntk=kernel, theta=theta)
    print(f"seconds {best}")
    print(f"peak_mib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}")


if __name__ == "__main__":
    main()

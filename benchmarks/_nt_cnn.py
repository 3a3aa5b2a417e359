"""The neural-tangents side of bench_cnn_kernels.py, run in its own virtualenv (numpy < 2, jax
0.4.25): the infinite-width NNGP + NTK of a `_cnn_cases.py` case, float64 on the CPU.

    python _nt_cnn.py INPUT.npy OUT.npz CASE BATCH_SIZE REPEATS

BATCH_SIZE 0 is nt's default (`kernel_fn` on all pairs at once); otherwise `nt.batch` with that
batch size. Prints "seconds S" (the best of REPEATS runs after a compiling run) and "peak_mib M",
or "failed: <error>" when the computation fails (out of memory), and saves both kernels.
"""

import resource
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

import neural_tangents as nt  # noqa: E402

from _cnn_cases import nt_kernel_fn  # noqa: E402


def main():
    x_path, out_path, case, batch, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    X = jax.numpy.asarray(np.load(x_path))
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


if __name__ == "__main__":
    main()

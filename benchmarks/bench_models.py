"""Benchmark: the tangent kernel of any model (ntk.models) against the field's two recipes, and
the matrix-free solve where the recipes run out of memory.

    python3 benchmarks/bench_models.py [--n-dense 1000] [--n-cg 5000] [--n-large 100000] [--repeats 3]
                                       [--skip-large]

float64 throughout (JAX in x64 mode, torch modules in double).

1. Dense empirical NTK of the same model on the same n, side by side in one process:
   - a PyTorch CNN on 8 x 8 x 1 images (two 3 x 3 convolutions with 16 channels, relu, 2 x 2
     average pooling, a linear readout to 10 outputs; P = 5,050), mean over outputs: libntk
     (``ntk.empirical_ntk(ntk.models.from_torch(cnn), X)``: Jacobian rows by torch.func in
     blocks, one GEMM per block pair, symmetric half) against the PyTorch tutorial's
     "Jacobian contraction" (``vmap(jacrev)`` then ``einsum('Naf,Maf->NM')``, its trace form)
     and, at a smaller n (``--n-small``: it costs n^2 k network passes), its "NTK-vector products"
     (``vmap(vmap(jvp(vjp)))`` over pairs);
   - a JAX MLP (d = 64, [512, 512], relu, one output; P = 295,425): libntk against
     neural-tangents' two implementations written out in JAX (JACOBIAN_CONTRACTION:
     ``vmap(jacrev)`` and a contraction; NTK_VECTOR_PRODUCTS: ``jvp`` over X1 of the ``vjp`` of
     every cotangent of X2, at ``--n-small-jax``: n^2 passes).
   Times are best of ``--repeats``; GFLOP/s counts the contraction (n^2 k P for libntk's
   symmetric half, 2 n^2 k P for einsum); the kernels are compared.
2. Kernel ridge through the products (a JAX MLP, d = 20, [256, 256], tanh, P = 71,425):
   ridge 0.1 x the mean diagonal; at n = ``--n-cg`` CG with the rank-256 Nyström preconditioner
   against numpy's dense solve on the model's kernel (relative difference of the predictions); at n = ``--n-large`` the
   same CG alone, whose full Jacobian (n P doubles) and kernel (n^2) the recipes would have
   to store: time, iterations, residual and the process's peak RSS.
"""

import argparse
import subprocess
import sys
import time

import numpy as np

import ntk
from _common import peak_rss_mib, print_environment

import jax  # noqa: E402  (benchmarks/run.sh installs the test extra: jax; scripts/setup.sh: torch)
import jax.numpy as jnp  # noqa: E402
import torch  # noqa: E402
from torch.func import functional_call, jacrev, jvp, vjp, vmap  # noqa: E402

jax.config.update("jax_enable_x64", True)


def best_of(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def torch_cnn():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16 * 4 * 4, 10)).double()


def torch_recipes(module):
    """The PyTorch tutorial's two recipes, mean over outputs (its trace form divided by k)."""
    params = {k: v.detach() for k, v in module.named_parameters()}

    def f(p, x):
        return functional_call(module, p, (x.unsqueeze(0),)).squeeze(0)

    def contraction(X1, X2):
        J1 = vmap(jacrev(f), (None, 0))(params, X1)
        J2 = vmap(jacrev(f), (None, 0))(params, X2)
        blocks = [torch.einsum("Naf,Maf->NM", J1[k].flatten(2), J2[k].flatten(2)) for k in params]
        return (sum(blocks) / 10).numpy()

    def vector_products(X1, X2):
        def single(x1, x2):
            def f1(p):
                return f(p, x1)

            def f2(p):
                return f(p, x2)

            _, pullback = vjp(f2, params)
            basis = torch.eye(10, dtype=torch.float64)
            return vmap(lambda u: jvp(f1, (params,), pullback(u))[1])(basis).trace()
        return (vmap(vmap(single, (None, 0)), (0, None))(X1, X2) / 10).numpy()

    return contraction, vector_products


def dense_torch(n, n_small, repeats):
    cnn = torch_cnn()
    model = ntk.models.from_torch(cnn)
    X = np.random.default_rng(0).random((n, 1, 8, 8))
    contraction, vector_products = torch_recipes(cnn)
    p, k = model.n_params, 10
    t_ours, K = best_of(lambda: ntk.empirical_ntk(model, X), repeats)
    Xt = torch.from_numpy(X)
    t_con, K_con = best_of(lambda: contraction(Xt, Xt), repeats)
    small = Xt[:n_small]
    t_small_ours, K_small = best_of(lambda: ntk.empirical_ntk(model, X[:n_small]), repeats)
    t_vps, K_vps = best_of(lambda: vector_products(small, small), 1)
    rel = np.max(np.abs(K - K_con)) / np.max(np.abs(K_con))
    rel_vps = np.max(np.abs(K_small - K_vps)) / np.max(np.abs(K_vps))
    print(f"\n1a. PyTorch CNN on 8 x 8 x 1 images, P = {p}, k = {k}, mean over outputs")
    print("| n | method | seconds | ratio to libntk | entries/s | GFLOP/s (contraction) | max rel. diff. |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {n} | libntk (from_torch, Jacobian blocks + GEMM) | {t_ours:.2f} | 1.00 | {n * n / t_ours:,.0f} | "
          f"{n * n * k * p / t_ours / 1e9:.1f} | |")
    print(f"| {n} | tutorial: Jacobian contraction | {t_con:.2f} | {t_con / t_ours:.2f} | {n * n / t_con:,.0f} | "
          f"{2 * n * n * k * p / t_con / 1e9:.1f} | {rel:.1e} |")
    print(f"| {n_small} | libntk | {t_small_ours:.3f} | 1.00 | {n_small ** 2 / t_small_ours:,.0f} | | |")
    print(f"| {n_small} | tutorial: NTK-vector products | {t_vps:.2f} | {t_vps / t_small_ours:.1f} | "
          f"{n_small ** 2 / t_vps:,.0f} | | {rel_vps:.1e} |")


def jax_mlp(d, widths, activation, seed=0):
    """An NTK-parameterised MLP (W_std sqrt 2, b_std 0.1) as (apply_fn, params)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), 2 * (len(widths) + 1))
    sizes = [d, *widths, 1]
    params = []
    for i in range(len(sizes) - 1):
        params += [jax.random.normal(keys[2 * i], (sizes[i], sizes[i + 1])),
                   jax.random.normal(keys[2 * i + 1], (sizes[i + 1],))]

    def apply_fn(p, x):
        h = x
        for i in range(len(p) // 2):
            h = np.sqrt(2.0) / np.sqrt(p[2 * i].shape[0]) * h @ p[2 * i] + 0.1 * p[2 * i + 1]
            if i < len(p) // 2 - 1:
                h = activation(h)
        return h

    return apply_fn, params


def jax_recipes(apply_fn, params):
    """neural-tangents' JACOBIAN_CONTRACTION and NTK_VECTOR_PRODUCTS, written out (one output)."""
    from jax.flatten_util import ravel_pytree

    theta, unravel = ravel_pytree(params)

    def f(t, x):
        return apply_fn(unravel(t), x)[:, 0]

    def rows(X):
        return jax.vmap(lambda x: jax.grad(lambda t: f(t, x[None])[0])(theta))(X)

    @jax.jit
    def contraction(X1, X2):
        return rows(X1) @ rows(X2).T

    @jax.jit
    def vector_products(X1, X2):
        _, pullback = jax.vjp(lambda t: f(t, X2), theta)
        basis = jnp.eye(len(X2))
        return jax.vmap(lambda u: jax.jvp(lambda t: f(t, X1), (theta,), pullback(u))[1])(basis).T

    return contraction, vector_products


def dense_jax(n, n_small, repeats):
    apply_fn, params = jax_mlp(64, [512, 512], jax.nn.relu)
    model = ntk.models.from_jax(apply_fn, params, block_rows=256)
    X = np.random.default_rng(1).normal(size=(n, 64))
    contraction, vector_products = jax_recipes(apply_fn, params)
    p = model.n_params
    t_ours, K = best_of(lambda: ntk.empirical_ntk(model, X), repeats)
    t_con, K_con = best_of(lambda: np.asarray(contraction(X, X)), repeats)
    t_vps, K_vps = best_of(lambda: np.asarray(vector_products(X[:n_small], X[:n_small])), 1)
    t_small, K_small = best_of(lambda: ntk.empirical_ntk(model, X[:n_small]), repeats)
    print(f"\n1b. JAX MLP, d = 64, [512, 512], relu, P = {p}, one output")
    print("| n | method | seconds | ratio to libntk | entries/s | GFLOP/s (contraction) | max rel. diff. |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {n} | libntk (from_jax, Jacobian blocks + GEMM) | {t_ours:.2f} | 1.00 | {n * n / t_ours:,.0f} | "
          f"{n * n * p / t_ours / 1e9:.1f} | |")
    rel = np.max(np.abs(K - K_con)) / np.max(np.abs(K_con))
    print(f"| {n} | JACOBIAN_CONTRACTION (written out) | {t_con:.2f} | {t_con / t_ours:.2f} | {n * n / t_con:,.0f} | "
          f"{2 * n * n * p / t_con / 1e9:.1f} | {rel:.1e} |")
    rel = np.max(np.abs(K_small - K_vps)) / np.max(np.abs(K_vps))
    print(f"| {n_small} | libntk | {t_small:.2f} | 1.00 | {n_small ** 2 / t_small:,.0f} | | |")
    print(f"| {n_small} | NTK_VECTOR_PRODUCTS (written out) | {t_vps:.2f} | {t_vps / t_small:.2f} | "
          f"{n_small ** 2 / t_vps:,.0f} | | {rel:.1e} |")


def peak_gib():
    """This process's peak resident memory (VmHWM: unlike ru_maxrss it is not inherited from the
    parent that started the process)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return peak_rss_mib() / 1024


def report_progress():
    """A progress callable that prints the fraction and the time on stderr every 5 %."""
    start, last = time.perf_counter(), [-1.0]

    def report(fraction):
        if fraction - last[0] >= 0.05 or fraction == 1:
            last[0] = fraction
            print(f"  {100 * fraction:5.1f} % after {time.perf_counter() - start:7.1f} s", file=sys.stderr, flush=True)
    return report


def solves(sizes, header=True):
    apply_fn, params = jax_mlp(20, [256, 256], jnp.tanh, seed=2)
    model = ntk.models.from_jax(apply_fn, params, block_rows=4096)
    p = model.n_params
    rng = np.random.default_rng(3)
    if header:
        print(f"\n2. Kernel ridge through a JAX MLP's products (d = 20, [256, 256], tanh, P = {p}), ridge 0.1 x mean "
              "diagonal, Nyström preconditioner of rank 256; tolerance 1e-10 (with the dense check), 1e-6 (large n, "
              "its own process: peak RSS is its own)")
        print("| n | method | seconds | CG iterations | final residual | peak RSS (GiB) | Jacobian / kernel the "
              "recipes store (GiB) | rel. diff. to dense |")
        print("|---|---|---|---|---|---|---|---|")
    for n, dense_check in sizes:
        X, Xt = rng.normal(size=(n, 20)), rng.normal(size=(200, 20))
        Y = np.sin(X[:, :1] * X[:, 1:2]) + 0.1 * rng.normal(size=(n, 1))
        start = time.perf_counter()
        z = 0.1 * float(np.mean(ntk.empirical_ntk_diagonal(model, X)))
        ridge = ntk.EmpiricalNTKRidge(model, X, Y, z, tol=1e-10 if dense_check else 1e-6, max_iter=300,
                                      preconditioner_rank=256, progress=None if dense_check else report_progress())
        pred = ridge.predict(Xt)
        seconds = time.perf_counter() - start
        stored = f"{n * p * 8 / 2**30:.1f} / {n * n * 8 / 2**30:.1f}"
        diff = ""
        if dense_check:
            t0 = time.perf_counter()
            K, Kt = ntk.empirical_ntk(model, X), ntk.empirical_ntk(model, Xt, X)
            dense = Kt @ np.linalg.solve(K + z * np.eye(n), Y)
            diff = (f"{np.max(np.abs(pred - dense)) / np.max(np.abs(dense)):.1e} "
                    f"(dense: {time.perf_counter() - t0:.1f} s)")
            del K
        print(f"| {n:,} | libntk CG through jvp/vjp | {seconds:.1f} | {ridge.iterations} | {ridge.residuals[-1]:.1e} | "
              f"{peak_gib():.2f} | {stored} | {diff} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-dense", type=int, default=1000)
    parser.add_argument("--n-small", type=int, default=100)
    parser.add_argument("--n-small-jax", type=int, default=250)
    parser.add_argument("--n-cg", type=int, default=5000)
    parser.add_argument("--n-large", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--only-large", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only_large:
        return solves([(args.n_large, False)], header=False)
    import scipy

    print_environment(ntk, np, scipy)
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), jax {jax.__version__}")
    dense_torch(args.n_dense, args.n_small, args.repeats)
    dense_jax(args.n_dense, args.n_small_jax, args.repeats)
    solves([(args.n_cg, True)])
    if not args.skip_large:
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--only-large", "--n-large", str(args.n_large)], check=True)


if __name__ == "__main__":
    main()

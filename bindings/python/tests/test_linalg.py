"""Results of the linear-algebra building blocks against numpy/scipy doing the same job."""

import os

import numpy as np
import pytest
import scipy.linalg

import ntk
from ntk import _arrays

from conftest import random_spd


def rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


class TestGram:
    @pytest.mark.parametrize("progress", [None, lambda f: None], ids=["one-call", "blocked"])
    def test_general_matches_numpy(self, rng, progress):
        a, b = rng.standard_normal((700, 31)), rng.standard_normal((90, 31))
        assert rel(ntk.gram(a, b, alpha=0.3, progress=progress), 0.3 * a @ b.T) < 1e-14

    @pytest.mark.parametrize("progress", [None, lambda f: None], ids=["one-call", "blocked"])
    def test_symmetric_is_exactly_symmetric(self, rng, progress):
        a = rng.standard_normal((1100, 17))
        g = ntk.gram(a, progress=progress)
        assert np.array_equal(g, g.T)
        assert rel(g, a @ a.T) < 1e-14

    def test_row_slice_passed_with_leading_dimension(self, rng):
        big = rng.standard_normal((50, 40))
        view = big[5:45, 3:20]  # unit inner stride, row stride 40
        arr, _, ld, _ = _arrays.matrix(view, "A")
        assert arr is view and ld == 40  # no copy
        assert rel(ntk.gram(view), view @ view.T) < 1e-14

    def test_non_contiguous_and_integer_inputs_are_converted(self, rng):
        a = rng.standard_normal((20, 30)).T  # Fortran order
        assert rel(ntk.gram(a), a @ a.T) < 1e-14
        ints = np.arange(12).reshape(4, 3)
        assert np.array_equal(ntk.gram(ints), (ints @ ints.T).astype(float))
        assert np.array_equal(ntk.gram([[1, 2], [3, 4]]), np.array([[5.0, 11.0], [11.0, 25.0]]))

    def test_empty_and_featureless(self):
        assert ntk.gram(np.zeros((0, 3))).shape == (0, 0)
        assert np.array_equal(ntk.gram(np.zeros((2, 0))), np.zeros((2, 2)))

    def test_progress_reports_monotone_fractions(self, rng):
        seen = []
        ntk.gram(rng.standard_normal((2000, 8)), progress=seen.append)
        assert seen[0] == 0 and seen[-1] == 1 and seen == sorted(seen) and len(seen) > 2


class TestCholesky:
    @pytest.mark.parametrize("n,ridge", [(1, 0.0), (50, 0.0), (300, 0.7), (1700, 1e-3)])
    def test_solve_matches_numpy(self, rng, n, ridge):
        k = random_spd(rng, n, p=max(n // 2, 1))
        y = rng.standard_normal((n, 4))
        want = np.linalg.solve(k + ridge * np.eye(n), y)
        assert rel(ntk.cholesky_solve(k, y, ridge=ridge), want) < 1e-10

    def test_vector_rhs_keeps_its_shape(self, rng):
        k = random_spd(rng, 20)
        y = rng.standard_normal(20)
        x = ntk.cholesky_solve(k, y)
        assert x.shape == (20,)
        assert rel(x, scipy.linalg.cho_solve(scipy.linalg.cho_factor(k), y)) < 1e-12

    def test_factor_reuse_and_log_determinant(self, rng):
        k = random_spd(rng, 60)
        with ntk.CholeskyFactor(k, ridge=0.5) as f:
            assert f.n == 60
            for _ in range(3):
                y = rng.standard_normal((60, 2))
                assert rel(f.solve(y), np.linalg.solve(k + 0.5 * np.eye(60), y)) < 1e-11
            sign, logdet = np.linalg.slogdet(k + 0.5 * np.eye(60))
            assert sign == 1 and abs(f.log_determinant - logdet) < 1e-10 * abs(logdet)
        with pytest.raises(ntk.InvalidHandleError):
            f.solve(y)

    def test_factor_is_freed(self, rng):
        before = ntk.live_handle_count()
        f = ntk.CholeskyFactor(random_spd(rng, 5))
        assert ntk.live_handle_count() == before + 1
        del f
        assert ntk.live_handle_count() == before

    def test_nearly_symmetric_input_is_symmetrised(self, rng):
        k = random_spd(rng, 30)
        noisy = k + 1e-9 * np.triu(rng.standard_normal((30, 30)), 1)
        y = rng.standard_normal(30)
        sym = (noisy + noisy.T) / 2
        assert rel(ntk.cholesky_solve(noisy, y), np.linalg.solve(sym, y)) < 1e-11


class TestEigh:
    def test_matches_numpy(self, rng):
        k = random_spd(rng, 200, p=50, shift=0)  # rank 50: 150 zero eigenvalues
        w, v = ntk.eigh(k)
        w_np = np.linalg.eigvalsh(k)
        assert np.all(np.diff(w) >= 0)
        assert np.max(np.abs(w - w_np)) < 1e-12 * w_np[-1]
        assert rel(v @ np.diag(w) @ v.T, k) < 1e-12
        assert np.max(np.abs(v.T @ v - np.eye(200))) < 1e-12
        assert np.max(np.abs(ntk.eigvalsh(k) - w)) < 1e-12 * w[-1]

    def test_closed_form(self):
        w, v = ntk.eigh([[2.0, 1.0], [1.0, 2.0]])
        assert np.allclose(w, [1.0, 3.0], rtol=0, atol=1e-15)
        assert abs(abs(v[0, 1]) - np.sqrt(0.5)) < 1e-15 and v[0, 0] * v[1, 0] < 0

    def test_empty(self):
        w, v = ntk.eigh(np.zeros((0, 0)))
        assert w.shape == (0,) and v.shape == (0, 0)


def test_version_and_blas_info():
    assert ntk.version() == ntk.__version__
    info = ntk.blas_info()
    assert info["core"] and "OpenBLAS" in info["config"]
    assert info["num_threads"] >= 1 and info["num_procs"] >= 1


def test_blas_library_is_a_mapped_file():
    # Independent of dladdr: the files this process has mapped (/proc/self/maps).
    info = ntk.blas_info()
    with open("/proc/self/maps") as f:
        mapped = {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}
    mapped_real = {os.path.realpath(m) for m in mapped if m.startswith("/")}
    for key, stem in (("library", "openblas"), ("lapacke", "lapacke")):
        assert info[key] and stem in os.path.basename(os.path.realpath(info[key]))
        assert os.path.realpath(info[key]) in mapped_real
    # The tests run the build folder's library, which links the system's OpenBLAS.
    assert info["bundled"] is False


def test_set_num_threads_round_trip():
    before = ntk.blas_info()["num_threads"]
    try:
        ntk.set_num_threads(1)
        assert ntk.blas_info()["num_threads"] == 1
    finally:
        ntk.set_num_threads(before)
    assert ntk.blas_info()["num_threads"] == before

"""Concurrent calls from Python threads (ctypes releases the GIL) give the serial results."""

import threading

import numpy as np

import ntk

from conftest import random_spd


def run_in_threads(jobs):
    results, errors = [None] * len(jobs), []

    def work(i):
        try:
            results[i] = jobs[i]()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_two_threads_compute_correct_results(rng):
    a1, a2 = rng.standard_normal((600, 80)), rng.standard_normal((500, 70))
    k = random_spd(rng, 400)
    y = rng.standard_normal((400, 3))
    want = [a1 @ a1.T, np.linalg.solve(k, y)]
    for _ in range(5):
        got = run_in_threads([lambda: ntk.gram(a1), lambda: ntk.cholesky_solve(k, y)])
        assert np.max(np.abs(got[0] - want[0])) < 1e-10 * np.max(np.abs(want[0]))
        assert np.max(np.abs(got[1] - want[1])) < 1e-9 * np.max(np.abs(want[1]))
    got = run_in_threads([lambda: ntk.gram(a2), lambda: ntk.gram(a2)])
    assert np.array_equal(got[0], got[1])


def test_eight_threads_share_one_factor(rng):
    k = random_spd(rng, 300)
    ys = [rng.standard_normal((300, 2)) for _ in range(8)]
    with ntk.CholeskyFactor(k, ridge=0.1) as f:
        serial = [f.solve(y) for y in ys]
        parallel = run_in_threads([lambda y=y: f.solve(y) for y in ys])
    for s, p in zip(serial, parallel):
        assert np.array_equal(s, p)


def test_error_messages_are_per_thread():
    barrier = threading.Barrier(2)
    messages = {}

    def fail(name, array):
        barrier.wait()
        for _ in range(50):
            try:
                ntk.gram(array)
            except ntk.NonFiniteError as e:
                messages.setdefault(name, set()).add(str(e))

    a = np.ones((3, 3))
    a[1, 2] = np.nan
    b = np.ones((4, 4))
    b[3, 0] = np.inf
    run_in_threads([lambda: fail("a", a), lambda: fail("b", b)])
    assert messages["a"] == {"ntk.gram: A (row 1, column 2) is nan, must be finite"}
    assert messages["b"] == {"ntk.gram: A (row 3, column 0) is inf, must be finite"}

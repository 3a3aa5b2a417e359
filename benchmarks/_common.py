"""Shared helpers of the benchmarks: alternating best-of timing, BLAS identification, memory."""

import resource
import statistics
import time

PAUSE = 0.5  # seconds; OpenBLAS's default thread timeout is about 0.1 s


def timed_pair(ours, theirs, repeats):
    """Best-of-`repeats` times of both functions, run alternately.

    The machine is a shared VM whose speed drifts: alternating the two sides exposes both to
    the same conditions, and the minimum is the least disturbed run of each. Two OpenBLAS
    copies live in this process (numpy's and the system one libntk uses); each keeps its worker
    threads spinning for a while after a call, which would steal the cores from the other, so
    every run starts after a pause that lets the other side's threads go to sleep.
    """
    ours(), theirs()  # warm-up: thread pools, page faults
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        for fn, times in ((ours, t_ours), (theirs, t_theirs)):
            time.sleep(PAUSE)
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return min(t_ours), min(t_theirs), statistics.median(t_ours), statistics.median(t_theirs)


def numpy_blas():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl)", None
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", "") + pool.get("prefix", ""):
            name = f"{pool.get('internal_api')} {pool.get('version')} {pool.get('architecture')}"
            return name, pool.get("num_threads")
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            name = (f"{pool.get('internal_api')} {pool.get('version')} {pool.get('architecture')} "
                    f"({pool.get('filepath')})")
            return name, pool.get("num_threads")
    return "unknown", None


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeats):
    """Best of `repeats` runs of `fn` after a warm-up, each after the pause."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        time.sleep(PAUSE)
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def print_environment(ntk, numpy, scipy):
    """Prints which BLAS each side runs, with thread counts."""
    info = ntk.blas_info()
    np_core, np_threads = numpy_blas()
    print(f"libntk {ntk.version()}: OpenBLAS core {info['core']}, {info['num_threads']} threads ({info['config']})")
    print(f"numpy {numpy.__version__}: {np_core}, {np_threads} threads; scipy {scipy.__version__}")


def median_and_best(fn, repeats, pause=PAUSE):
    """Median and best of `repeats` runs of `fn` after a warm-up, each after `pause` seconds (0:
    back to back, as a caller's loop runs them)."""
    fn()
    times = []
    for _ in range(repeats):
        time.sleep(pause)
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)

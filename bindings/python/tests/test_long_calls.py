"""Long calls: Ctrl-C, progress bars, verbose estimators and the "ntk" log."""

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import ntk
from ntk import _progress
from ntk.sklearn import NTKRegressor

PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(ntk.__file__)))

# Each long call runs for several seconds uninterrupted (about 5-15 s on two cores), so a SIGINT
# two seconds in always lands in the middle of it.
LONG_CALLS = {
    "infinite_width_ntk": """
        net = ntk.MLP(16, [512, 512], activation="tanh")
        X = rng.standard_normal((9000, 16))
        call = lambda: ntk.infinite_width_ntk(net, X)
        small = lambda: ntk.infinite_width_ntk(net, X[:50])
    """,
    "empirical_ntk": """
        net = ntk.MLP(16, [1024, 1024], seed=1)
        X = rng.standard_normal((7000, 16))
        call = lambda: ntk.empirical_ntk(net, X)
        small = lambda: ntk.empirical_ntk(net, X[:50])
    """,
    "train": """
        net = ntk.MLP(16, [256], seed=2)
        X, y = rng.standard_normal((2000, 16)), rng.standard_normal(2000)
        call = lambda: net.train(X, y, learning_rate=0.05, epochs=4000, diagnose_catapult=False)
        small = lambda: net.train(X[:50], y[:50], learning_rate=0.05, epochs=2, diagnose_catapult=False)
    """,
    "kernel_ridge": """
        F = rng.standard_normal((11000, 40))
        K = F @ F.T / 40 + np.eye(11000)
        y = rng.standard_normal(11000)
        call = lambda: ntk.kernel_ridge(K, y, ridge=1e-3)
        small = lambda: ntk.kernel_ridge(K[:50, :50], y[:50], ridge=1e-3)
    """,
}

CHILD = """
import sys, time
import numpy as np
import ntk
rng = np.random.default_rng(0)
{setup}
small()  # warm: the same path once, quickly
handles = ntk.live_handle_count()
print("started", flush=True)
try:
    call()
    print("finished", flush=True)
except KeyboardInterrupt:
    print("interrupted", repr(time.time()), flush=True)
small()
print("next call ok, handles", handles, ntk.live_handle_count(), flush=True)
"""


@pytest.mark.parametrize("name", sorted(LONG_CALLS))
def test_ctrl_c_stops_a_long_call_within_a_second(name):
    code = CHILD.format(setup=textwrap.dedent(LONG_CALLS[name]))
    env = dict(os.environ, PYTHONPATH=PACKAGE_PARENT)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    try:
        assert child.stdout.readline().strip() == "started", child.stderr.read()
        time.sleep(2.0)
        sent = time.time()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    lines = out.splitlines()
    assert child.returncode == 0, err
    assert lines[0].startswith("interrupted"), f"{name} was not interrupted: {out} {err}"
    delay = float(lines[0].split()[1]) - sent
    assert delay < 1.0, f"{name}: KeyboardInterrupt {delay:.2f} s after SIGINT"
    before, after = lines[1].split()[-2:]
    assert lines[1].startswith("next call ok") and before == after, out


def test_sigint_handler_is_restored_and_a_custom_handler_still_runs():
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        net = ntk.MLP(4, [8], activation="tanh")
        X = np.random.default_rng(1).standard_normal((600, 4))

        def press_ctrl_c_once(fraction):
            if not received and fraction > 0:
                os.kill(os.getpid(), signal.SIGINT)

        # A program's own SIGINT handler gets the signal (after the library stopped) and the
        # call reports that it was cancelled instead of returning a partial kernel.
        with pytest.raises(ntk.CancelledError):
            ntk.infinite_width_ntk(net, X, progress=press_ctrl_c_once)
        assert received == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) is not previous  # still the custom one
        K = ntk.infinite_width_ntk(net, X[:5])
        assert K.shape == (5, 5)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert signal.getsignal(signal.SIGINT) is previous


def test_default_handler_raises_keyboard_interrupt_in_process():
    net = ntk.MLP(4, [8], activation="tanh")
    X = np.random.default_rng(2).standard_normal((600, 4))
    calls = []

    def press_ctrl_c(fraction):
        calls.append(fraction)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGINT)

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with pytest.raises(KeyboardInterrupt):
        ntk.infinite_width_ntk(net, X, progress=press_ctrl_c)
    assert len(calls) == 2  # no report after the signal: cancelled at the next one
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# -- progress bars ------------------------------------------------------------------------------


@pytest.fixture
def without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


def test_progress_true_draws_a_stderr_bar_without_tqdm(without_tqdm, capsys):
    net = ntk.MLP(4, [8])
    K = ntk.infinite_width_ntk(net, np.random.default_rng(3).standard_normal((700, 4)), progress=True)
    err = capsys.readouterr().err
    assert K.shape == (700, 700)
    assert err.startswith("\rntk.infinite_width_ntk:   0% |") and err.endswith("\n")
    last = err.rstrip("\n").split("\r")[-1]
    assert last.startswith("ntk.infinite_width_ntk: 100% |" + "#" * 30 + "|")
    assert "elapsed" in last and "left" in last and "%/s" in last


def test_progress_true_uses_tqdm_when_installed(capsys):
    import tqdm  # noqa: F401 - a test dependency ([test] extra); the fallback is tested above
    net = ntk.MLP(4, [8])
    ntk.infinite_width_ntk(net, np.random.default_rng(3).standard_normal((700, 4)), progress=True)
    err = capsys.readouterr().err
    assert "ntk.infinite_width_ntk: 100%|" in err  # tqdm's format: no space before its bar


def test_stderr_bar_format_and_throttling():
    class Stream:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

    stream = Stream()
    bar = _progress.Bar("work", stream=stream)
    for f in np.linspace(0, 1, 1001):
        bar.update(f)
    bar.close()
    frames = stream.text.rstrip("\n").split("\r")[1:]
    assert 2 <= len(frames) < 50  # redrawn at most every 0.1 s, plus the first and the last
    assert frames[0].startswith("work:   0% |" + "-" * 30 + "|")
    assert frames[-1].startswith("work: 100% |" + "#" * 30 + "|")
    assert stream.text.endswith("\n")


def test_progress_false_and_bad_values():
    net = ntk.MLP(4, [8])
    X = np.ones((3, 4))
    assert ntk.infinite_width_ntk(net, X, progress=False).shape == (3, 3)
    with pytest.raises(ntk.InvalidArgumentError, match="progress must be None, True, False or a callable"):
        ntk.infinite_width_ntk(net, X, progress="yes")


def test_training_progress_bar_and_stop(without_tqdm, capsys):
    net = ntk.MLP(3, [16], seed=4)
    X, y = np.random.default_rng(4).standard_normal((40, 3)), np.zeros(40)
    h = net.train(X, y, learning_rate=0.1, epochs=30, progress=True, diagnose_catapult=False)
    assert h.epochs_run == 30
    assert "ntk.train: 100% |" in capsys.readouterr().err
    seen = []
    h = net.train(X, y, learning_rate=0.1, epochs=30, diagnose_catapult=False,
                  progress=lambda f: seen.append(f) or f < 0.2)
    assert h.epochs_run == 6 and seen[-1] == pytest.approx(0.2)  # False at epoch 6 stops training


def test_verbose_estimator_prints_progress(without_tqdm, capsys):
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((300, 3)), rng.standard_normal(300)
    NTKRegressor(verbose=1, ridge=1e-3).fit(X, y)
    err = capsys.readouterr().err
    assert "[NTKRegressor] infinite-width NTK, 300 x 300: 100% |" in err
    assert "[NTKRegressor] Cholesky kernel ridge, n = 300:" in err
    NTKRegressor(verbose=0, ridge=1e-3).fit(X, y)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="verbose must be an int >= 0"):
        NTKRegressor(verbose=-1).fit(X, y)


def test_verbose_2_shows_the_library_log(without_tqdm, capsys):
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((100, 3)), rng.standard_normal(100)
    NTKRegressor(verbose=2, ridge="gcv").fit(X, y)
    err = capsys.readouterr().err
    assert "[ntk] infinite-width kernels: relu, 3 dense layers, 100 x 100 pairs" in err
    assert "[ntk] solver: direct, eigendecomposition of the 100 x 100 kernel (ridge selection by gcv)" in err
    assert logging.getLogger("ntk").handlers == [h for h in logging.getLogger("ntk").handlers
                                                  if isinstance(h, logging.NullHandler)]


# -- the log ------------------------------------------------------------------------------------


def test_info_log_of_a_fit_names_solver_memory_and_blas(caplog):
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((200, 3)), rng.standard_normal(200)
    with caplog.at_level(logging.INFO, logger="ntk"):
        NTKRegressor(ridge=1e-2).fit(X, y)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "ntk")
    assert "solver: direct, Cholesky kernel ridge of the 200 x 200 kernel" in text
    assert "memory: the kernel and its factor need 0.6 MiB (dense), budget" in text
    assert f"BLAS: OpenBLAS core {ntk.blas_info()['core']}" in text
    assert "kernel ridge: Cholesky of the 200 x 200 kernel" in text  # from the library itself


def test_library_messages_arrive_with_their_levels(caplog):
    with caplog.at_level(logging.INFO, logger="ntk"):
        with pytest.warns(RuntimeWarning, match="clamped"):
            ntk.SpectralSolver(np.diag([2.0, 1.0, -1.0])).close()
        net = ntk.MLP(3, [64, 64], seed=5)
        ntk.empirical_ntk(net, np.ones((200, 3)), memory_limit=4096)
        ntk.infinite_width_ntk(ntk.MLP(3, [4], activation="softplus"), np.ones((2, 3)), quadrature_points=12)
        diverging = ntk.MLP(3, [32], activation="identity", seed=6)
        h = diverging.train(np.ones((8, 3)), np.ones(8), learning_rate=50.0, epochs=200, diagnose_catapult=False)
        assert h.diverged
    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "ntk"]
    warnings = [m for level, m in records if level == logging.WARNING]
    infos = [m for level, m in records if level == logging.INFO]
    assert any("1 negative eigenvalue(s) clamped to 0, the lowest -1.0" in m for m in warnings)
    assert any(m.startswith("empirical NTK: structured method, 200 x 200 pairs") and "memory limit of 4.0 KiB" in m
               and "blocks of 64 rows, recomputed" in m for m in infos)
    assert any("Kolmogorov scale mixture, 12 nodes per variable (fixed)" in m for m in infos)
    assert any(m.startswith("training diverged at epoch") for m in warnings)


def test_log_is_silent_by_default():
    code = ("import numpy as np, ntk; net = ntk.MLP(3, [32], activation='identity'); "
            "h = net.train(np.ones((8, 3)), np.ones(8), learning_rate=50.0, epochs=200); print(h.diverged)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=PACKAGE_PARENT))
    assert r.returncode == 0 and r.stdout.strip() == "True"
    assert r.stderr == ""
    code = ("import logging, numpy as np, ntk; logging.basicConfig(level=logging.WARNING); "
            "import warnings; warnings.simplefilter('ignore'); ntk.SpectralSolver(np.diag([1.0, -1.0])).close()")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=PACKAGE_PARENT))
    assert "WARNING:ntk:spectral solver: 1 negative eigenvalue(s) clamped" in r.stderr

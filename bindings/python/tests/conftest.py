import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20261129)


def random_spd(rng, n, p=None, shift=0.1):
    """F F^T / p + shift I: symmetric positive definite with a known construction."""
    p = p or n
    f = rng.standard_normal((n, p))
    return f @ f.T / p + shift * np.eye(n)

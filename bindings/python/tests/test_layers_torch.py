"""ntk.Network.from_torch: the converted network reproduces the PyTorch module's forward pass
(float64, to 1e-12) and its tangent kernel (against torch.func through ntk.models.from_torch),
and what does not convert is rejected by name."""

import numpy as np
import pytest
import torch

import ntk

nn = torch.nn


class Residual(nn.Module):
    """The documented form of a residual block: forward(x) = x + block(x)."""

    ntk_residual = True

    def __init__(self, *layers):
        super().__init__()
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.block(x)


def images(n, shape, seed=0):
    return np.random.default_rng(seed).standard_normal((n, *shape))


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), Residual(nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1)), nn.Tanh(),
        nn.AvgPool2d(2), nn.Conv2d(8, 4, 2, stride=2), nn.GELU(), nn.Flatten(), nn.Linear(16, 6),
        nn.LayerNorm(6, elementwise_affine=False), nn.Softplus(), nn.Dropout(0.5), nn.Linear(6, 3)).double().eval()


def test_forward_and_tangent_kernel_match_pytorch():
    module, X = cnn(), images(5, (3, 8, 8))
    net = ntk.Network.from_torch(module, (3, 8, 8))
    assert net.input_shape == (8, 8, 3) and net.parameterization == "standard"
    assert net.num_parameters == sum(p.numel() for p in module.parameters())
    with torch.no_grad():
        want = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net(np.moveaxis(X, 1, -1)), want, rtol=1e-12, atol=1e-13)
    theirs = ntk.empirical_ntk(ntk.models.from_torch(module), X, output="per_output")
    ours = ntk.empirical_ntk(net, np.moveaxis(X, 1, -1), output="per_output")
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_sequences_global_pooling_and_a_flat_mlp():
    torch.manual_seed(1)
    module = nn.Sequential(nn.Conv1d(2, 5, 3, padding="same"), nn.LeakyReLU(0.2), nn.Conv1d(5, 5, 3, padding=1,
                                                                                          padding_mode="circular"),
                           nn.Sigmoid(), nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(5, 2)).double()
    X = images(4, (2, 9), seed=2)
    net = ntk.Network.from_torch(module, (2, 9))
    with torch.no_grad():
        want = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(net(np.moveaxis(X, 1, -1)), want, rtol=1e-12, atol=1e-13)
    mlp = nn.Sequential(nn.Linear(4, 7), nn.ReLU(), nn.Sequential(nn.Linear(7, 7), nn.Tanh()), nn.Linear(7, 1)).double()
    X = images(6, (4,), seed=3)
    with torch.no_grad():
        want = mlp(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(ntk.Network.from_torch(mlp, (4,))(X), want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("module, shape, message", [
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), (3, 8, 8), "BatchNorm2d has no libntk layer"),
    (nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1)), (3, 4, 4), "pads unlike SAME"),
    (nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2)), (3, 8, 8), "dilation"),
    (nn.Sequential(nn.Linear(4, 3), nn.GELU(approximate="tanh")), (4,), "exact"),
    (nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3)), (4,), None),  # default affine (1, 0): converts
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(6, 2)), (3, 8, 8), "Flatten first"),
    (nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 1, bias=False)), (4,), "biases or none"),
    (nn.Sequential(nn.Conv1d(3, 4, 3)), (3, 8, 8), "1-D convolution on a tensor of 2 spatial axes"),
])
def test_what_does_not_convert_is_named(module, shape, message):
    module = module.double()
    if message is None:
        with torch.no_grad():
            module[1].weight.fill_(2.0)  # a learned scale has no libntk layer
        message = "learned scale"
    with pytest.raises(ntk.InvalidArgumentError, match=message):
        ntk.Network.from_torch(module, shape)

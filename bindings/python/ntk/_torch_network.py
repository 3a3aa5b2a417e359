"""PyTorch modules to ntk.Network (internal; the public entry is :meth:`ntk.Network.from_torch`).

PyTorch's layers are the standard parameterization with the weights as drawn (``y = x W^T + b``),
so the network is built with ``parameterization="standard"`` and its parameters are PyTorch's,
rearranged: a Linear weight (out, in) becomes W (in, out); a Conv weight (out, in, *kernel)
becomes HWIO (*kernel, in, out); the first Linear after a Flatten of a spatial tensor gets its
input rows permuted from PyTorch's (channel, position) order to libntk's (position, channel).
PyTorch computes on NCHW tensors, libntk on NHWC rows: the network takes ``np.moveaxis(X, 1, -1)``.
"""

import numpy as np

from . import layers as L
from .errors import InvalidArgumentError


def _pairs(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


class _Converter:
    def __init__(self, torch, input_shape):
        self.torch, self.nn = torch, torch.nn
        shape = tuple(int(s) for s in input_shape)
        if not 1 <= len(shape) <= 4:
            raise InvalidArgumentError(f"input_shape must be PyTorch's per-example shape (C, H, W), (C, L) or (d,), "
                                       f"got {input_shape!r}")
        # The tensor as libntk sees it: spatial sizes and channels.
        self.spatial, self.channels = list(shape[1:]), shape[0]
        self.ntk_input_shape = (*shape[1:], shape[0])
        self.flattened = None  # PyTorch's (C, *spatial) of the last Flatten of a spatial tensor
        self.parameters = []

    def _padding(self, module, kernel, strides, name):
        """libntk's padding equal to PyTorch's symmetric padding on every axis, or an error."""
        padding = module.padding
        if isinstance(padding, str):
            if padding == "same" and all(s == 1 for s in strides) and all(k % 2 == 1 for k in kernel):
                return "SAME"
            if padding == "valid":
                return "VALID"
            raise InvalidArgumentError(f"{name}: padding={padding!r} with kernel {kernel} has no libntk equivalent")
        pads = _pairs(padding, len(kernel))
        if all(p == 0 for p in pads):
            return "VALID"
        for n, k, s, p in zip(self.spatial, kernel, strides, pads):
            out = -(-n // s)
            lo = max((out - 1) * s + k - n, 0) // 2
            if (n + 2 * p - k) // s + 1 != out or lo != p:
                raise InvalidArgumentError(f"{name}: padding {pads} with kernel {kernel} and stride {strides} pads "
                                           "unlike SAME (XLA's split) and VALID; libntk cannot reproduce it")
        return "CIRCULAR" if getattr(module, "padding_mode", "zeros") == "circular" else "SAME"

    def _windows(self, kernel, strides, padding):
        for i, (n, k, s) in enumerate(zip(self.spatial, kernel, strides)):
            self.spatial[i] = (n - k) // s + 1 if padding == "VALID" else -(-n // s)

    def _array(self, tensor):
        return tensor.detach().to(self.torch.float64).cpu().numpy()

    def _bias(self, module, width):
        return self._array(module.bias) if module.bias is not None else None

    def convert(self, module, name="module"):
        nn = self.nn
        if isinstance(module, nn.Sequential):
            out = []
            for i, child in enumerate(module):
                out.extend(self.convert(child, f"{name}[{i}]"))
            return out
        if getattr(module, "ntk_residual", False):
            block = getattr(module, "block", None)
            if not isinstance(block, nn.Sequential):
                raise InvalidArgumentError(f"{name}: a residual module (ntk_residual = True) needs its block as an "
                                           "nn.Sequential attribute `block`; forward must return x + block(x)")
            shape = (list(self.spatial), self.channels)
            layers = self.convert(block, f"{name}.block")
            if (self.spatial, self.channels) != shape:
                raise InvalidArgumentError(f"{name}: the residual block changes the shape")
            return [L.Residual(*layers)]
        return self._leaf(module, name)

    def _leaf(self, module, name):
        nn = self.nn
        activations = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}
        for cls, activation in activations.items():
            if type(module) is cls:
                return [L.Activation(activation)]
        if isinstance(module, nn.GELU):
            if module.approximate != "none":
                raise InvalidArgumentError(f"{name}: GELU(approximate={module.approximate!r}); libntk's gelu is exact")
            return [L.Activation("gelu")]
        if isinstance(module, nn.LeakyReLU):
            return [L.Activation("leaky_relu", leaky_slope=module.negative_slope)]
        if isinstance(module, nn.Softplus):
            if module.beta != 1:
                raise InvalidArgumentError(f"{name}: Softplus(beta={module.beta}); libntk's softplus has beta = 1")
            return [L.Activation("softplus")]
        if isinstance(module, (nn.Identity, nn.Dropout)):
            return []  # dropout: the module in eval mode
        if isinstance(module, nn.Linear):
            return [self._linear(module, name)]
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return [self._conv(module, name)]
        if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)):
            return [self._pool(module, name)]
        if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
            if any(s != 1 for s in _pairs(module.output_size, max(len(self.spatial), 1))) or not self.spatial:
                raise InvalidArgumentError(f"{name}: only AdaptiveAvgPool to size 1 (global average pooling)")
            self.spatial = []
            return [L.GlobalAvgPool()]
        if isinstance(module, nn.Flatten):
            if module.start_dim != 1 or module.end_dim != -1:
                raise InvalidArgumentError(f"{name}: only Flatten(start_dim=1)")
            if not self.spatial:
                return []  # already flat (after global pooling)
            self.flattened = (self.channels, *self.spatial)
            self.channels *= int(np.prod(self.spatial))
            self.spatial = []
            return [L.Flatten()]
        if isinstance(module, nn.LayerNorm):
            return [self._layer_norm(module, name)]
        raise InvalidArgumentError(f"{name}: {type(module).__name__} has no libntk layer (supported: Linear, "
                                   "Conv1d/2d/3d, AvgPool, AdaptiveAvgPool(1), Flatten, LayerNorm, ReLU, LeakyReLU, "
                                   "Tanh, Sigmoid, GELU, Softplus, Identity, Dropout, Sequential, residual modules)")

    def _linear(self, module, name):
        if self.spatial:
            raise InvalidArgumentError(f"{name}: Linear on a spatial tensor (PyTorch applies it to the last axis); "
                                       "Flatten first")
        W = self._array(module.weight).T  # (in, out)
        if self.flattened is not None:  # rows in libntk's (position, channel) order
            c, *spatial = self.flattened
            order = np.arange(W.shape[0]).reshape(c, -1).T.reshape(-1)
            W = W[order]
            self.flattened = None
        self.parameters += [W, self._bias(module, module.out_features)]
        self.channels = module.out_features
        return L.Dense(module.out_features)

    def _conv(self, module, name):
        kernel, strides = tuple(module.kernel_size), tuple(module.stride)
        if len(kernel) != len(self.spatial):
            raise InvalidArgumentError(f"{name}: a {len(kernel)}-D convolution on a tensor of {len(self.spatial)} "
                                       "spatial axes")
        if any(d != 1 for d in module.dilation) or module.groups != 1:
            raise InvalidArgumentError(f"{name}: dilation and groups are not supported")
        if module.padding_mode not in ("zeros", "circular"):
            raise InvalidArgumentError(f"{name}: padding_mode={module.padding_mode!r}")
        padding = self._padding(module, kernel, strides, name)
        W = self._array(module.weight)  # (out, in, *kernel)
        self.parameters += [np.moveaxis(W, (0, 1), (-1, -2)), self._bias(module, module.out_channels)]
        self._windows(kernel, strides, padding)
        self.channels = module.out_channels
        return L.Conv(module.out_channels, kernel, strides=strides, padding=padding)

    def _pool(self, module, name):
        rank = len(self.spatial)
        kernel = _pairs(module.kernel_size, rank)
        strides = _pairs(module.stride if module.stride is not None else module.kernel_size, rank)
        if getattr(module, "ceil_mode", False) or not getattr(module, "count_include_pad", True):
            raise InvalidArgumentError(f"{name}: ceil_mode and count_include_pad=False are not supported")
        padding = self._padding(module, kernel, strides, name)
        self._windows(kernel, strides, padding)
        return L.AvgPool(kernel, strides=strides, padding=padding)

    def _layer_norm(self, module, name):
        if self.spatial or tuple(module.normalized_shape) != (self.channels,):
            raise InvalidArgumentError(f"{name}: LayerNorm{tuple(module.normalized_shape)} on PyTorch's last axis; "
                                       "libntk normalises channels, so only a LayerNorm of a flat vector converts")
        if module.elementwise_affine:
            weight, bias = self._array(module.weight), (self._array(module.bias) if module.bias is not None else 0)
            if np.any(weight != 1) or np.any(bias != 0):
                raise InvalidArgumentError(f"{name}: LayerNorm with learned scale or shift has no libntk layer")
        return L.LayerNorm(eps=module.eps)


def from_torch(module, input_shape, W_std, b_std, seed):
    """The `ntk.Network` of a PyTorch module and its parameters (see the module docstring)."""
    try:
        import torch
    except ImportError:
        raise ImportError("ntk.Network.from_torch needs PyTorch: pip install torch") from None
    from .network import Network

    converter = _Converter(torch, input_shape)
    layers = converter.convert(module)
    if not layers:
        raise InvalidArgumentError("the module has no layers libntk converts")
    biases = [p is not None for p in converter.parameters[1::2]]
    if any(biases) and not all(biases):
        raise InvalidArgumentError("libntk's layers all have biases or none: the module mixes both")
    net = Network(layers, input_shape=converter.ntk_input_shape, W_std=W_std, b_std=b_std,
                  parameterization="standard", bias=all(biases), seed=seed)
    theta = [p.ravel() for p in converter.parameters if p is not None]
    net.set_flat_parameters(np.concatenate(theta) if theta else np.empty(0))
    return net

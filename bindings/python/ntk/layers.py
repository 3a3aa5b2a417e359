"""Layers of a network description for :class:`ntk.Network` (neural-tangents' ``stax`` conventions).

A network is a list of layers applied in order; :class:`Residual` adds a block's output to its
input. Inputs are NHWC (or NLC for sequences): ``(n, H, W, C)``. Each layer's conventions match
``neural_tangents.stax`` so that the same description gives the same kernels:

- :class:`Dense` ``(width)``: affine map on the channel axis (at every position of a spatial input);
- :class:`Conv` ``(channels, kernel_size, strides=1, padding="SAME")``: fan-in = input channels x
  window size; ``"SAME"`` zero-pads (the smaller half first), ``"CIRCULAR"`` wraps around,
  ``"VALID"`` needs the window to fit;
- :class:`AvgPool` ``(window, strides=None, padding="VALID")``: strides default to 1 (as
  neural-tangents, not PyTorch); the mean is divided by the window size also at SAME borders;
- :class:`GlobalAvgPool`, :class:`Flatten`: spatial to flat (Flatten: positions x channels);
- :class:`LayerNorm` ``(eps=1e-12)``: over the channels at each position;
- :class:`Activation` ``(name)``: any of ``ntk.ACTIVATIONS``;
- :class:`Residual` ``(*layers)``: the block's output plus its input.

``kernel_size``, ``window`` and ``strides`` take an int (the same on every spatial axis) or a tuple
with one entry per spatial axis. Dense and Conv take ``W_std``/``b_std`` overriding the network's.
"""

import ctypes
import math

from . import _arrays
from ._library import ENUMS, choices, lib, raise_for_status
from ._library import Layer as _CLayer
from .errors import InvalidArgumentError

_ACTIVATIONS = choices("ntk_activation", "NTK_ACTIVATION_")

_KINDS = ENUMS["ntk_layer_kind"]
_PADDINGS = {name[len("NTK_PADDING_"):]: value for name, value in ENUMS["ntk_padding"].items()}


def _std(value, name):
    return math.nan if value is None else _arrays.scalar(value, name)


def _sizes(value, rank, name):
    """An int (every axis) or a tuple of ``rank`` ints."""
    if isinstance(value, (tuple, list)):
        values = [_arrays.integer(v, f"{name}[i]") for v in value]
        if len(values) != rank:
            raise InvalidArgumentError(f"{name} has {len(values)} entries but the input to this layer has {rank} "
                                       "spatial axes")
        return values
    return [_arrays.integer(value, name)] * rank


class _Layer:
    _kind = None

    def _struct(self, **fields):
        layer = _CLayer()
        raise_for_status(lib.ntk_layer_init(layer, _KINDS[self._kind]))
        for name, value in fields.items():
            setattr(layer, name, value)
        return layer

    def _c_layers(self, rank):
        """The ``ntk_layer`` structs of this layer for an input with ``rank`` spatial axes."""
        return [self._struct()]

    def _spatial_rank(self, rank):
        """The spatial rank after this layer."""
        return rank

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if v is not None)
        return f"{type(self).__name__}({args})"


class Dense(_Layer):
    """An affine layer of ``width`` units on the channel axis (at every position of a spatial input).

    Parameters
    ----------
    width : int
    W_std, b_std : float, optional
        This layer's standard deviations (default: the network's).
    """

    _kind = "NTK_LAYER_DENSE"

    def __init__(self, width, W_std=None, b_std=None):
        self.width, self.W_std, self.b_std = _arrays.integer(width, "width"), W_std, b_std

    def _c_layers(self, rank):
        return [self._struct(width=self.width, w_std=_std(self.W_std, "W_std"), b_std=_std(self.b_std, "b_std"))]


class _Windowed(_Layer):
    def _window_fields(self, sizes, strides, rank, name):
        if rank == 0:
            return {"rank": 1}  # the library names the flat input
        if rank > 3:
            raise InvalidArgumentError(f"{type(self).__name__} supports 1 to 3 spatial axes, the input has {rank}")
        sizes = _sizes(sizes, rank, name)
        strides = _sizes(1 if strides is None else strides, rank, "strides")
        padding = str(self.padding).upper()
        if padding not in _PADDINGS:
            raise InvalidArgumentError(f"padding must be 'SAME', 'VALID' or 'CIRCULAR', got {self.padding!r}")
        triple = ctypes.c_int64 * 3
        return {"rank": rank, "window": triple(*(sizes + [1] * 3)[:3]), "strides": triple(*(strides + [1] * 3)[:3]),
                "padding": _PADDINGS[padding]}


class Conv(_Windowed):
    """A convolution with ``channels`` outputs over every spatial axis; fan-in = input channels x window.

    Parameters
    ----------
    channels : int
    kernel_size : int or tuple of int
        The window, one entry per spatial axis (an int: the same on every axis).
    strides : int or tuple of int
    padding : "SAME" (zeros, the smaller half first), "VALID" or "CIRCULAR" (wraps around)
    W_std, b_std : float, optional
        This layer's standard deviations (default: the network's).
    """

    _kind = "NTK_LAYER_CONV"

    def __init__(self, channels, kernel_size, strides=1, padding="SAME", W_std=None, b_std=None):
        self.channels, self.kernel_size, self.strides = _arrays.integer(channels, "channels"), kernel_size, strides
        self.padding, self.W_std, self.b_std = padding, W_std, b_std

    def _c_layers(self, rank):
        fields = self._window_fields(self.kernel_size, self.strides, rank, "kernel_size")
        return [self._struct(width=self.channels, w_std=_std(self.W_std, "W_std"), b_std=_std(self.b_std, "b_std"),
                             **fields)]


class AvgPool(_Windowed):
    """The mean over each window, divided by the window size (also at SAME borders).

    Parameters
    ----------
    window : int or tuple of int
    strides : int or tuple of int, optional
        Default 1 on every axis (neural-tangents' default, not PyTorch's).
    padding : "VALID" (default), "SAME" or "CIRCULAR"
    """

    _kind = "NTK_LAYER_AVG_POOL"

    def __init__(self, window, strides=None, padding="VALID"):
        self.window, self.strides, self.padding = window, strides, padding

    def _c_layers(self, rank):
        return [self._struct(**self._window_fields(self.window, self.strides, rank, "window"))]


class GlobalAvgPool(_Layer):
    """The mean over all positions: spatial to flat."""

    _kind = "NTK_LAYER_GLOBAL_AVG_POOL"

    def _spatial_rank(self, rank):
        return 0


class Flatten(_Layer):
    """Positions x channels as one flat vector."""

    _kind = "NTK_LAYER_FLATTEN"

    def _spatial_rank(self, rank):
        return 0


class LayerNorm(_Layer):
    """``(h - mean) / sqrt(var + eps)`` over the channels at each position.

    Parameters
    ----------
    eps : float
        Added to the variance (neural-tangents' default 1e-12).
    """

    _kind = "NTK_LAYER_LAYER_NORM"

    def __init__(self, eps=1e-12):
        self.eps = _arrays.scalar(eps, "eps")

    def _c_layers(self, rank):
        return [self._struct(epsilon=self.eps)]


class Activation(_Layer):
    """An elementwise nonlinearity.

    Parameters
    ----------
    name : str
        One of ``ntk.ACTIVATIONS``.
    leaky_slope : float
        The slope of leaky_relu for negative inputs.
    """

    _kind = "NTK_LAYER_ACTIVATION"

    def __init__(self, name, leaky_slope=0.01):
        _arrays.choice(name, _ACTIVATIONS, "activation")
        self.name, self.leaky_slope = name, None
        if name == "leaky_relu":
            self.leaky_slope = _arrays.scalar(leaky_slope, "leaky_slope")

    def _c_layers(self, rank):
        slope = 0.01 if self.leaky_slope is None else self.leaky_slope
        return [self._struct(activation=_ACTIVATIONS[self.name], activation_parameter=slope)]


class Residual(_Layer):
    """``block(x) + x`` for the block of ``layers`` (it must keep the shape).

    Parameters
    ----------
    *layers : ntk.layers layers
        The block, applied in order.
    """

    def __init__(self, *layers):
        _check_layers(layers, "Residual")
        self.layers = list(layers)

    def _c_layers(self, rank):
        begin, end = _CLayer(), _CLayer()
        raise_for_status(lib.ntk_layer_init(begin, _KINDS["NTK_LAYER_RESIDUAL_BEGIN"]))
        raise_for_status(lib.ntk_layer_init(end, _KINDS["NTK_LAYER_RESIDUAL_END"]))
        return [begin, *_c_layers(self.layers, rank), end]

    def _spatial_rank(self, rank):
        for layer in self.layers:
            rank = layer._spatial_rank(rank)
        return rank

    def __repr__(self):
        return f"Residual({', '.join(map(repr, self.layers))})"


def _check_layers(layers, owner):
    for i, layer in enumerate(layers):
        if not isinstance(layer, _Layer):
            raise InvalidArgumentError(f"{owner}: layer {i} must be an ntk.layers layer, got {type(layer).__name__}")


def _c_layers(layers, rank):
    """The flat ``ntk_layer`` list of a layer list on inputs with ``rank`` spatial axes."""
    out = []
    for layer in layers:
        out.extend(layer._c_layers(rank))
        rank = layer._spatial_rank(rank)
    return out

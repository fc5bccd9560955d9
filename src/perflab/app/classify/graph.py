"""EfficientNet-Lite0 as an ONNX graph, built from its state dict with the `onnx` package alone.

EfficientNet-Lite is EfficientNet-B0 made friendly to small CPUs: no squeeze-and-excitation,
ReLU6 in place of swish, stem and head not scaled. The weights were converted from TensorFlow,
so every convolution pads the TensorFlow "SAME" way (any odd pixel goes after, not before); the
graph takes a fixed 224x224 input, so those pads are computed here once, per layer.

    input  "images"  float32 [batch, 3, 224, 224], RGB, already scaled (see service.py)
    stem   conv 3x3 stride 2 -> 32, BN, ReLU6
    16 MBConv blocks (the stages below): [1x1 expand, BN, ReLU6], depthwise kxk, BN, ReLU6,
           1x1 project, BN, + input when the shape is kept
    head   conv 1x1 -> 1280, BN, ReLU6, global average pool, fully connected -> 1000
    output "logits"  float32 [batch, 1000]

Batch norms are folded into the convolution before them (inference only uses running
statistics), so the graph is just Conv, Clip, Add, GlobalAveragePool, Flatten and Gemm. The batch
dimension is symbolic: one `session.run` classifies any number of images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from perflab.app.classify.shape import IMAGE_SIZE_PX, INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from perflab.app.classify.weights import Array, StateDict

# Opset 17 and IR version 8 go together; every onnxruntime from 1.13 on runs them.
OPSET = 17
IR_VERSION = 8
# The TensorFlow original's batch-norm epsilon (efficientnet_lite_builder), kept by the port.
BN_EPSILON = 1e-3


@dataclass(frozen=True)
class Stage:
    repeats: int
    kernel_px: int
    stride: int
    expand_ratio: int
    out_channels: int


# EfficientNet-B0's stages, which Lite0 keeps (width and depth multipliers 1.0).
STAGES = (
    Stage(1, 3, 1, 1, 16),
    Stage(2, 3, 2, 6, 24),
    Stage(2, 5, 2, 6, 40),
    Stage(3, 3, 2, 6, 80),
    Stage(3, 5, 1, 6, 112),
    Stage(4, 5, 2, 6, 192),
    Stage(1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


def same_pads(size_px: int, kernel_px: int, stride: int) -> list[int]:
    """TensorFlow "SAME" padding as ONNX pads [top, left, bottom, right] for a square input."""
    out_px = -(-size_px // stride)
    total = max((out_px - 1) * stride + kernel_px - size_px, 0)
    before = total // 2
    return [before, before, total - before, total - before]


class _Builder:
    def __init__(self, state: StateDict) -> None:
        self.state = state
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.size_px = IMAGE_SIZE_PX
        self._add_constant("relu6_min", np.array(0.0, np.float32))
        self._add_constant("relu6_max", np.array(6.0, np.float32))

    def _add_constant(self, name: str, value: Array) -> str:
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def _weight(self, name: str) -> Array:
        try:
            return self.state[name]
        except KeyError:
            raise ValueError(f"the weights lack {name}: not EfficientNet-Lite0") from None

    def conv_bn(self, x: str, conv: str, bn: str, *, stride: int = 1, groups: int = 1) -> str:
        """Conv (no bias) then batch norm, folded into one Conv with a bias."""
        weight = self._weight(f"{conv}.weight").astype(np.float64)
        gamma, beta, mean, var = (
            self._weight(f"{bn}.{part}").astype(np.float64)
            for part in ("weight", "bias", "running_mean", "running_var")
        )
        scale = gamma / np.sqrt(var + BN_EPSILON)
        folded_w = (weight * scale[:, None, None, None]).astype(np.float32)
        folded_b = (beta - mean * scale).astype(np.float32)
        kernel_px = int(weight.shape[-1])
        w_name = self._add_constant(f"{conv}.folded_weight", folded_w)
        b_name = self._add_constant(f"{conv}.folded_bias", folded_b)
        out = f"{conv}.out"
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, w_name, b_name],
                [out],
                name=conv,
                kernel_shape=[kernel_px, kernel_px],
                strides=[stride, stride],
                pads=same_pads(self.size_px, kernel_px, stride),
                group=groups,
            )
        )
        self.size_px = -(-self.size_px // stride)
        return out

    def relu6(self, x: str) -> str:
        out = f"{x}.relu6"
        self.nodes.append(helper.make_node("Clip", [x, "relu6_min", "relu6_max"], [out]))
        return out

    def block(self, index: int, x: str, in_channels: int, stage: Stage, stride: int) -> str:
        prefix = f"_blocks.{index}"
        hidden = in_channels * stage.expand_ratio
        depthwise = self._weight(f"{prefix}._depthwise_conv.weight")
        if depthwise.shape != (hidden, 1, stage.kernel_px, stage.kernel_px):
            raise ValueError(f"{prefix}: depthwise weight {depthwise.shape} is not Lite0's")
        y = x
        if stage.expand_ratio != 1:
            y = self.relu6(self.conv_bn(y, f"{prefix}._expand_conv", f"{prefix}._bn0"))
        y = self.conv_bn(
            y, f"{prefix}._depthwise_conv", f"{prefix}._bn1", stride=stride, groups=hidden
        )
        y = self.relu6(y)
        y = self.conv_bn(y, f"{prefix}._project_conv", f"{prefix}._bn2")
        if stride == 1 and in_channels == stage.out_channels:
            out = f"{prefix}.residual"
            self.nodes.append(helper.make_node("Add", [y, x], [out]))
            return out
        return y

    def network(self) -> str:
        x = self.relu6(self.conv_bn(INPUT_NAME, "_conv_stem", "_bn0", stride=2))
        channels, index = STEM_CHANNELS, 0
        for stage in STAGES:
            for repeat in range(stage.repeats):
                stride = stage.stride if repeat == 0 else 1
                x = self.block(index, x, channels, stage, stride)
                channels, index = stage.out_channels, index + 1
        x = self.relu6(self.conv_bn(x, "_conv_head", "_bn1"))
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], ["pooled"]))
        self.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
        fc_w = self._add_constant("_fc.weight", self._weight("_fc.weight").astype(np.float32))
        fc_b = self._add_constant("_fc.bias", self._weight("_fc.bias").astype(np.float32))
        self.nodes.append(
            helper.make_node("Gemm", ["features", fc_w, fc_b], [OUTPUT_NAME], transB=1)
        )
        return OUTPUT_NAME


def build_model(state: StateDict, metadata: Mapping[str, str] | None = None) -> onnx.ModelProto:
    """The checked ONNX model of EfficientNet-Lite0 for `state` (see `weights.load_state_dict`).

    `metadata` goes into the model's metadata_props (the cache stores its key there).
    """
    builder = _Builder(state)
    builder.network()
    graph = helper.make_graph(
        builder.nodes,
        "efficientnet_lite0",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["batch", 3, IMAGE_SIZE_PX, IMAGE_SIZE_PX]
            )
        ],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", NUM_CLASSES])],
        initializer=builder.initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="perflab"
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, dict(metadata or {}))
    onnx.checker.check_model(model, full_check=True)
    return model

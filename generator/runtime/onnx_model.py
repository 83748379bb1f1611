"""ONNX models without code: the bundle's graph (``modelFile``) run by onnxruntime.

The graph is read here, when the server loads it, never by the compiler: what a model takes and
returns (its inputs' and outputs' names, datatypes and shapes) is the graph's own, and the metadata,
the request checks and the served OpenAPI document follow it once it is loaded. The manifest's
REST parameters name the graph's inputs (their ``position`` is predict()'s order on the bus and the
simple route); a parameter that also declares a type must declare the graph's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import Datatype, Output, Parameter, ServerConfig, TensorType
from .typed import Signature
from .usercode import PredictCode, UserCodeError

# onnxruntime's type names -> OIP datatypes -> numpy dtypes
_DATATYPES: dict[str, Datatype] = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}
_NUMPY = {
    "BOOL": "bool", "UINT8": "uint8", "UINT16": "uint16", "UINT32": "uint32", "UINT64": "uint64",
    "INT8": "int8", "INT16": "int16", "INT32": "int32", "INT64": "int64",
    "FP16": "float16", "FP32": "float32", "FP64": "float64", "BYTES": "object",
}  # fmt: skip


def _tensor(kind: str, node: Any) -> TensorType:
    datatype = _DATATYPES.get(node.type)
    if datatype is None:
        raise UserCodeError(
            f"the ONNX {kind} {node.name!r} is a {node.type}, not a tensor aiar can serve "
            "(a scikit-learn classifier converted with skl2onnx needs options={'zipmap': False})"
        )
    shape = tuple(dim if isinstance(dim, int) and dim >= 0 else -1 for dim in (node.shape or ()))
    return TensorType(datatype=datatype, shape=shape)


class OnnxModel:
    """One loaded graph: an onnxruntime session and the signature it defines."""

    def __init__(self, path: Path, declared: Sequence[Parameter]) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1  # requests already run side by side in the server's threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        graph_inputs = {node.name: _tensor("input", node) for node in self.session.get_inputs()}
        names = [p.name for p in declared]
        if sorted(names) != sorted(graph_inputs):
            raise UserCodeError(
                f"the manifest's REST parameters {names} are not the ONNX graph's inputs {sorted(graph_inputs)}"
            )
        parameters = []
        for p in declared:
            tensor = graph_inputs[p.name]
            if p.tensor is not None and p.tensor != tensor:
                raise UserCodeError(f"parameter {p.name!r} declares {p.tensor} but the ONNX graph takes {tensor}")
            parameters.append(p.model_copy(update={"tensor": tensor}))
        self.outputs = [Output(name=node.name, tensor=_tensor("output", node)) for node in self.session.get_outputs()]
        self.signature = Signature(parameters, self.outputs)
        self._dtypes = [_NUMPY[p.tensor.datatype] for p in parameters if p.tensor is not None]

    def predict(self, *args: Any) -> Any:
        import numpy

        feeds = {}
        for p, value, dtype in zip(self.signature.parameters, args, self._dtypes, strict=True):
            array = numpy.asarray(value, dtype=dtype)
            if array.size == 0 and p.tensor is not None:  # an empty batch: give it the graph's other dimensions
                array = array.reshape([max(d, 0) for d in p.tensor.shape])
            feeds[p.name] = array
        results = self.session.run(None, feeds)
        values = {o.name: result.tolist() for o, result in zip(self.outputs, results, strict=True)}
        return next(iter(values.values())) if len(values) == 1 else values


def predict_code(config: ServerConfig) -> PredictCode:
    declared = config.rest.parameters if config.rest else ()
    if not declared:
        raise UserCodeError("an ONNX model without predict.py needs REST parameters naming its graph's inputs")
    return PredictCode(
        predict=lambda model, *args: model.predict(*args),
        load=lambda path: OnnxModel(path, declared) if path is not None else None,
        update=None,
        signature=lambda model: model.signature,
    )

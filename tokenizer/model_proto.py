"""Read and write SentencePiece ``ModelProto`` files without ``sentencepiece_model_pb2``.

sentencepiece 0.2.3 ships a ``sentencepiece_model_pb2`` generated for protobuf 7, but apache-beam pins the
protobuf 6 runtime, so importing that module raises ``VersionError``. The file descriptor inside it is plain
data, though: we lift the serialized descriptor out of the module source (without executing it) and build the
message classes in a private descriptor pool, which protobuf 6 accepts. This keeps full fidelity (every trainer
and normaliser field, by name) without hand-decoding the wire format.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from jpcorpus.errors import UsageError

# ModelProto.SentencePiece.Type values (sentencepiece_model.proto).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


@functools.cache
def _model_proto_class() -> Any:
    spec = importlib.util.find_spec("sentencepiece.sentencepiece_model_pb2")
    assert spec is not None and spec.origin is not None, "sentencepiece is installed without its model proto"
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    serialized = None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            serialized = node.args[0].value
    assert isinstance(serialized, bytes), "no serialized descriptor found in sentencepiece_model_pb2"
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(serialized)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("sentencepiece.ModelProto"))


def new_model_proto() -> Any:
    """An empty ``sentencepiece.ModelProto`` message."""
    return _model_proto_class()()


def parse_model_proto(data: bytes, *, source: str) -> Any:
    """Parse serialized model bytes; damaged bytes are a ``UsageError`` naming ``source``."""
    proto = new_model_proto()
    try:
        proto.ParseFromString(data)
    except DecodeError as exc:
        raise UsageError(f"{source}: not a SentencePiece model (protobuf decode failed: {exc})") from exc
    if not proto.pieces:
        raise UsageError(f"{source}: not a SentencePiece model (no pieces)")
    return proto


def load_model_proto(path: str | Path) -> Any:
    """Read a ``.model`` file into a ``ModelProto``; missing or corrupt files are a ``UsageError``."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"SentencePiece model not found: {path}")
    return parse_model_proto(path.read_bytes(), source=str(path))

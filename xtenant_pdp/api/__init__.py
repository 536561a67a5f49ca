"""Generated protobuf and gRPC code, exactly as protoc writes it (never edited by hand).

protoc's Python output imports its siblings by proto path (``xtenant.pdp.v1``), so this folder
is put on the import path instead of rewriting those imports (protobuf#1491). Regenerate with
``python proto/generate.py``; ``tests/test_generated_code.py`` proves the files match proto/.
"""

import sys
from pathlib import Path

_GENERATED_ROOT = str(Path(__file__).resolve().parent)
if _GENERATED_ROOT not in sys.path:
    sys.path.append(_GENERATED_ROOT)

from typing import Any  # noqa: E402

from xtenant.pdp.snapshot.v1 import snapshot_pb2  # noqa: E402
from xtenant.pdp.v1 import pdp_pb2  # noqa: E402

__all__ = ["pdp_pb2", "pdp_pb2_grpc", "snapshot_pb2"]


def __getattr__(name: str) -> Any:
    # The gRPC stubs import grpc, whose C core reads GRPC_VERBOSITY once: keep that import out of
    # the compiler and the command line until a server or client is actually made.
    if name == "pdp_pb2_grpc":
        from xtenant.pdp.v1 import pdp_pb2_grpc

        return pdp_pb2_grpc
    raise AttributeError(name)

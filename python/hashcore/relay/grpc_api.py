"""Typed handles on the generated gRPC module, and the Relay service's registration.

grpc_tools writes ``relay_pb2_grpc`` without annotations, so strict mypy refuses calls
into it; these aliases are the one place that says "trust it".

:func:`add_relay_servicer` registers the Relay service as the generated function does,
except for Submit and SubmitBatch: those take and return bytes (the servicer's
``SubmitRaw`` / ``SubmitBatchRaw``), so a request reaches the Rust hot path undecoded and
its response leaves as the bytes Rust made (:mod:`.fast_ingest`).
"""

from __future__ import annotations

from typing import Any

import grpc

from .v2 import relay_pb2 as pb
from .v2 import relay_pb2_grpc as _generated

__all__ = ["OperatorStub", "RelayStub", "add_operator_servicer", "add_relay_servicer"]

RelayStub: Any = _generated.RelayStub
OperatorStub: Any = _generated.OperatorStub
add_operator_servicer: Any = _generated.add_OperatorServicer_to_server

_SERVICE = "hashcore.relay.v2.Relay"
#: The unary calls other than SubmitBatch: (request, response) message types.
_UNARY: dict[str, tuple[Any, Any]] = {
    "Enroll": (pb.EnrollRequest, pb.EnrollResponse),
    "GetReceipt": (pb.GetReceiptRequest, pb.Receipt),
    "GetCheckpoint": (pb.GetCheckpointRequest, pb.Checkpoint),
    "GetConsistencyProof": (pb.GetConsistencyProofRequest, pb.ConsistencyProof),
    "GetChainHead": (pb.GetChainHeadRequest, pb.ChainHead),
}


def add_relay_servicer(servicer: Any, server: Any) -> None:
    handlers: dict[str, grpc.RpcMethodHandler] = {
        name: grpc.unary_unary_rpc_method_handler(
            getattr(servicer, name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
        for name, (request, response) in _UNARY.items()
    }
    # No (de)serializers: bytes in, bytes out.
    handlers["Submit"] = grpc.stream_stream_rpc_method_handler(servicer.SubmitRaw)
    handlers["SubmitBatch"] = grpc.unary_unary_rpc_method_handler(servicer.SubmitBatchRaw)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(_SERVICE, handlers),))
    server.add_registered_method_handlers(_SERVICE, handlers)

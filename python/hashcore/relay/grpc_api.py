"""Typed handles on the generated gRPC module.

grpc_tools writes ``relay_pb2_grpc`` without annotations, so strict mypy refuses calls
into it; these aliases are the one place that says "trust it".
"""

from __future__ import annotations

from typing import Any

from .v2 import relay_pb2_grpc as _generated

__all__ = ["OperatorStub", "RelayStub", "add_operator_servicer", "add_relay_servicer"]

RelayStub: Any = _generated.RelayStub
OperatorStub: Any = _generated.OperatorStub
add_relay_servicer: Any = _generated.add_RelayServicer_to_server
add_operator_servicer: Any = _generated.add_OperatorServicer_to_server

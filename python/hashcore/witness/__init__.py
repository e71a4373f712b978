"""A C2SP tlog-witness for hashcore relay logs (SPEC 2.3) and the relay-side client that
pushes checkpoints to witnesses.

Needs the ``witness`` extra (aiohttp): ``pip install hashcore[witness]``.
"""

from __future__ import annotations

from .config import LogSpec, WitnessConfig, load_or_create_witness_key, parse_log_spec
from .server import Witness, WitnessServer
from .state import Cosigned, WitnessState

__all__ = [
    "Cosigned",
    "LogSpec",
    "Witness",
    "WitnessConfig",
    "WitnessServer",
    "WitnessState",
    "load_or_create_witness_key",
    "parse_log_spec",
]

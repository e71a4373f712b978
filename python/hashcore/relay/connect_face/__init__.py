"""The relay's HTTP face: the v2 ``Relay`` and ``Operator`` services over the Connect
protocol (and gRPC-Web, and gRPC over HTTP/2), for browsers, PWAs and mobile apps that
cannot speak gRPC's HTTP/2 framing.

The protocol is the maintained ``connectrpc`` package (the Connect project's own Python
runtime: Connect unary and streaming, JSON and binary, gzip, gRPC-Web); the HTTP server is
Hypercorn (HTTP/1.1 and HTTP/2, TLS with ALPN, h2c). Both call the very service objects the
gRPC server calls (``RelayService``/``OperatorService`` in ``service.py``), so limits, rate
buckets, metrics and refusals are shared. ``endpoints.py`` adapts the calls and maps the
errors exactly as ``interceptors.py`` does for gRPC; ``cors.py`` answers a trial's web
origin; ``serve.py`` runs it beside the gRPC server.
"""

from __future__ import annotations

from .serve import HttpFace

__all__ = ["HttpFace"]

"""Generated gRPC/protobuf code of ``proto/hashcore/relay/v2/relay.proto`` (``make`` runs
grpc_tools.protoc; the ``*_pb2*`` files are build outputs, not sources)."""

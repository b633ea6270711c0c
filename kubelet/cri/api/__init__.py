"""CRI runtime.v1 wire types: `api.proto` and the Python protoc generated from it (`api_pb2`,
`api_pb2_grpc`), checked in; regenerate with `python -m kubelet.cri.generate`."""

#!/usr/bin/env bash
# Regenerate the committed gRPC stubs from proto/energy_monitor.proto.
# Needs grpcio-tools (pip install grpcio-tools). Run from anywhere.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pkg="$here/ipw_energy_monitor"
python -m grpc_tools.protoc \
  --proto_path="$pkg/proto" \
  --python_out="$pkg" \
  --pyi_out="$pkg" \
  --grpc_python_out="$pkg" \
  "$pkg/proto/energy_monitor.proto"
# protoc writes a top-level import; make it relative to the package.
sed -i.bak 's/^import energy_monitor_pb2 as /from . import energy_monitor_pb2 as /' "$pkg/energy_monitor_pb2_grpc.py"
rm -f "$pkg/energy_monitor_pb2_grpc.py.bak"
echo "regenerated: $pkg/energy_monitor_pb2.py $pkg/energy_monitor_pb2_grpc.py"

#!/bin/sh
# Docker's HEALTHCHECK for the image's long-running roles (Kubernetes uses its own probes):
# the scoring API answers /health, or the code server answers gRPC's health check.
set -eu
if python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=5)" 2>/dev/null; then
  exit 0
fi
exec dagster api grpc-health-check --port 3030

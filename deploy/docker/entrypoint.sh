#!/bin/sh
# The image's roles. `code-server` (the default): Dagster user code over gRPC on 3030, what the
# Helm chart's user deployment and the daemon talk to. `serve`: the scoring API on 8000 (keys
# from CREDITPLATFORM_SERVE_API_KEYS_FILE). Anything else runs as given: the run launcher's
# `dagster api execute_run …` (each run worker), `mlflow server …`, a `creditplatform` command.
set -eu
role="${1:-code-server}"
case "$role" in
  code-server)
    [ "$#" -gt 0 ] && shift
    exec dagster code-server start --host 0.0.0.0 --port 3030 \
      --module-name creditplatform.definitions "$@" ;;
  serve)
    shift
    exec creditplatform serve --host 0.0.0.0 --port 8000 "$@" ;;
  *)
    exec "$@" ;;
esac

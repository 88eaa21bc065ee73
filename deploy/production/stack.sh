#!/usr/bin/env bash
# The production topology on one machine (README "Production"): a PostgreSQL cluster (Debian's
# package) holding the Dagster, MLflow and DuckLake-catalog databases, and an MLflow tracking
# server in front of its database. Usage:
#   deploy/production/stack.sh start   start both (idempotent), print the environment to use
#   deploy/production/stack.sh stop    stop both, by the pids recorded at start
#   deploy/production/stack.sh reset   stop, delete the cluster and the generated data, start afresh
# Every process is stopped by its recorded pid, never by name.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR=${CREDITPLATFORM_DATA_DIR:-$PWD/data}
STACK_DIR=${CREDITPLATFORM_STACK_DIR:-$PWD/.production-stack}
PORT=${CREDITPLATFORM_POSTGRES_PORT:-54329}
MLFLOW_PORT=${MLFLOW_PORT:-5000}
PY=.venv/bin/python
DATABASES=creditplatform_lake,creditplatform_mlflow,creditplatform_dagster

env_lines() {
  cat <<ENV
export CREDITPLATFORM_PROFILE=production
export CREDITPLATFORM_DATA_DIR=$DATA_DIR
export CREDITPLATFORM_POSTGRES_HOST=127.0.0.1
export CREDITPLATFORM_POSTGRES_PORT=$PORT
export CREDITPLATFORM_POSTGRES_USER=creditplatform
export MLFLOW_TRACKING_URI=http://127.0.0.1:$MLFLOW_PORT
export DAGSTER_HOME=$PWD/deploy/production
ENV
}

start() {
  # The cluster directory must be reachable by the `postgres` user when run as root.
  $PY -m creditplatform.local_postgres start "$STACK_DIR/postgres" --port "$PORT" \
    --databases "$DATABASES" >/dev/null
  if [ -f "$STACK_DIR/mlflow.pid" ] && kill -0 "$(cat "$STACK_DIR/mlflow.pid")" 2>/dev/null; then
    env_lines; return
  fi
  mkdir -p "$DATA_DIR/mlflow/artifacts"
  # One worker suits a 2-core machine; the artifact root is the one the platform's experiment
  # names, so clients and server read the same files.
  setsid .venv/bin/mlflow server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
    --backend-store-uri "postgresql+psycopg2://creditplatform@127.0.0.1:$PORT/creditplatform_mlflow" \
    --default-artifact-root "$DATA_DIR/mlflow/artifacts" \
    >"$STACK_DIR/mlflow.log" 2>&1 &
  echo $! >"$STACK_DIR/mlflow.pid"
  for _ in $(seq 1 120); do
    if $PY -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$MLFLOW_PORT/health', timeout=2)" 2>/dev/null; then
      env_lines; return
    fi
    sleep 1
  done
  echo "MLflow server did not answer on port $MLFLOW_PORT; see $STACK_DIR/mlflow.log" >&2
  exit 1
}

stop() {
  if [ -f "$STACK_DIR/mlflow.pid" ]; then
    kill -- "-$(cat "$STACK_DIR/mlflow.pid")" 2>/dev/null || true  # its process group
    rm -f "$STACK_DIR/mlflow.pid"
  fi
  $PY -m creditplatform.local_postgres stop "$STACK_DIR/postgres"
}

case "${1:-}" in
  start) mkdir -p "$STACK_DIR"; start ;;
  stop) stop ;;
  reset)
    stop
    rm -rf "$STACK_DIR"
    # The platform's generated state only (the data dir may hold files of the user's).
    CREDITPLATFORM_DATA_DIR="$DATA_DIR" $PY -c \
      "from creditplatform.pipeline import reset_data_dir as r; from creditplatform.settings import load_settings as s; r(s())"
    mkdir -p "$STACK_DIR"; start ;;
  *) echo "usage: $0 start|stop|reset" >&2; exit 2 ;;
esac

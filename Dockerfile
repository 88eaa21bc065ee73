# The one image of the production profile (deploy/kubernetes): Dagster user code, run pods and
# the MLflow server. Dependencies come from uv.lock, so the image runs the versions CI tested
# (duckdb and its DuckLake/PostgreSQL extensions pinned to one release).
FROM python:3.11-slim
ENV UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1
RUN pip install --no-cache-dir "uv>=0.5"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY creditplatform ./creditplatform
COPY deploy ./deploy
RUN uv sync --frozen --no-dev --compile-bytecode
ENV DAGSTER_HOME=/app/deploy/production CREDITPLATFORM_PROFILE=production

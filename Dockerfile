# The one image of the production profile (deploy/kubernetes): Dagster user code, run workers,
# the MLflow server and the scoring service, each a role of deploy/docker/entrypoint.sh.
# Dependencies come from uv.lock, so the image runs the versions CI tested. The commit is
# stamped in at build time (an image has no git):
#   docker build --build-arg GIT_COMMIT="$(python -m creditplatform.provenance)" -t creditplatform .
# Without it every model the image trains is tagged git_commit=unknown, which the production
# lineage gate refuses as champion.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN pip install --no-cache-dir "uv==0.13.9"
WORKDIR /app
# Dependencies first, the project after: a code change rebuilds only the last layers.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY creditplatform ./creditplatform
COPY deploy ./deploy
RUN uv sync --frozen --no-dev
ARG GIT_COMMIT=unknown
RUN printf '%s\n' "${GIT_COMMIT}" > creditplatform/BUILD_COMMIT

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 creditplatform \
    && useradd --system --uid 10001 --gid creditplatform --home-dir /app \
       --shell /usr/sbin/nologin creditplatform
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
# Owned by root, run as 10001: the code cannot be changed by the process running it. HOME and
# Matplotlib's cache go to /tmp, the one writable place (an emptyDir under a read-only root).
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp MPLCONFIGDIR=/tmp/matplotlib \
    DAGSTER_HOME=/app/deploy/production CREDITPLATFORM_PROFILE=production
WORKDIR /app
USER 10001:10001
EXPOSE 3030 8000
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["/app/deploy/docker/healthcheck.sh"]
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
CMD ["code-server"]

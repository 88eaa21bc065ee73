"""The online scoring API (FastAPI): the champion's PD for one applicant or a batch.

Endpoints: ``POST /v1/score``, ``POST /v1/score/batch``, ``GET /health``, ``GET /ready``,
``GET /metrics`` (Prometheus) and ``POST /admin/reload``. A request's rows are checked by the
landing contracts and turned into features by the feature store's own SQL
(``serving.applicants``), then scored by the one champion version the request picked up at its
start (``serving.champion``). A bad request is a 422 naming table, row, column, rule and value;
the body is parsed here rather than by FastAPI so that malformed JSON gets the same shape.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from contextlib import asynccontextmanager

import orjson
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from creditplatform.features.catalog import FEATURE_SCHEMA_VERSION
from creditplatform.ml.registry import Registry
from creditplatform.serving.applicants import Problem, Rejected
from creditplatform.serving.batcher import MicroBatcher
from creditplatform.serving.champion import ChampionHolder, ServedModel
from creditplatform.serving.request_log import RequestLog
from creditplatform.serving.scorer import NotReady, Scored, Scorer
from creditplatform.settings import Settings

log = logging.getLogger("creditplatform.serve")
disable_created_metrics()  # no `*_created` series: they double /metrics and nobody graphs them
REQUEST_ID = "X-Request-ID"
_REQUEST_ID_TEXT = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PD_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "creditplatform_requests", "HTTP requests by path and status",
            ["path", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "creditplatform_request_seconds", "Request latency by path", ["path"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.pd = Histogram(
            "creditplatform_scored_pd", "PD of every scored applicant",
            buckets=_PD_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.applicants = Counter(
            "creditplatform_applicants_scored", "Applicants scored", registry=self.registry
        )
        self.stages = Histogram(
            "creditplatform_scoring_stage_seconds",
            "Time of each stage of a scoring pass (one pass may score several requests)",
            ["stage"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.model_version = Gauge(
            "creditplatform_model_version", "Champion version being served (0: none)",
            registry=self.registry,
        )  # fmt: skip
        self.reloads = Counter(
            "creditplatform_model_reloads", "Champion alias checks by outcome", ["outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.request_log_dropped = Gauge(
            "creditplatform_request_log_dropped", "Scored rows dropped from the request log",
            registry=self.registry,
        )  # fmt: skip


def _problem_response(request_id: str, problems: list[Problem]) -> JSONResponse:
    return JSONResponse(
        {"request_id": request_id, "detail": [p.as_dict() for p in problems]},
        status_code=422,
    )


def _request_id(request: Request) -> str:
    given = request.headers.get(REQUEST_ID, "")
    return given if _REQUEST_ID_TEXT.fullmatch(given) else uuid.uuid4().hex


def create_app(settings: Settings, registry: Registry | None = None) -> FastAPI:
    """The service for ``settings`` (one process; requests run on FastAPI's thread pool)."""
    holder = ChampionHolder(registry or Registry.for_settings(settings))
    metrics = Metrics()
    scorer = Scorer(
        holder,
        settings.serve_reason_codes,
        lambda stage, seconds: metrics.stages.labels(stage).observe(seconds),
    )
    batcher = MicroBatcher(scorer, settings.serve_batch_max, settings.serve_scoring_threads)
    request_log = RequestLog(settings.request_log_path) if settings.serve_request_log else None
    stop = threading.Event()

    def reload() -> dict:
        result = holder.reload()
        metrics.reloads.labels(result.outcome).inc()
        metrics.model_version.set(holder.current.version if holder.current else 0)
        level = logging.ERROR if result.outcome == "failed" else logging.INFO
        log.log(level, f"champion reload: {result.outcome}", extra={
            "event": "model_reload", "outcome": result.outcome,
            "model_version": result.version, "detail": result.detail,
        })  # fmt: skip
        return {"outcome": result.outcome, "model_version": result.version, "detail": result.detail}

    def poll() -> None:
        while not stop.wait(settings.serve_reload_seconds):
            reload()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(reload)
        poller = threading.Thread(target=poll, name="champion-poll", daemon=True)
        poller.start()
        batcher.start()
        if request_log:
            request_log.start()
        yield
        stop.set()
        poller.join()
        batcher.stop()
        scorer.features.close()
        if request_log:
            request_log.close()

    app = FastAPI(
        title="creditplatform scoring",
        summary="Probability of default for Home Credit applicants, by the champion model.",
        lifespan=lifespan,
    )
    app.state.holder, app.state.metrics, app.state.request_log = holder, metrics, request_log

    @app.middleware("http")
    async def observe(request: Request, call_next):
        request.state.request_id = _request_id(request)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # a bug, not a bad request: logged with its request id, then a 500
            log.exception("unhandled error", extra={"request_id": request.state.request_id})
            response = JSONResponse(
                {"request_id": request.state.request_id, "detail": "internal error"},
                status_code=500,
            )
        seconds = time.perf_counter() - started
        path = request.scope.get("route").path if request.scope.get("route") else "unmatched"
        metrics.requests.labels(path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(seconds)
        response.headers[REQUEST_ID] = request.state.request_id
        if path != "/metrics":
            log.info("request", extra={
                "event": "request", "request_id": request.state.request_id,
                "method": request.method, "path": path, "status": response.status_code,
                "ms": round(seconds * 1000, 2),
                "model_version": getattr(request.state, "model_version", None),
                "applicants": getattr(request.state, "applicants", None),
            })  # fmt: skip
        return response

    def results(scored: Scored) -> list[dict]:
        return [
            {
                "SK_ID_CURR": int(sk),
                "pd": float(p),
                "decision": "decline" if p >= settings.policy_threshold else "approve",
                "reason_codes": [r.as_dict() for r in reasons],
            }
            for sk, p, reasons in zip(
                scored.features["SK_ID_CURR"], scored.pds, scored.reasons, strict=True
            )
        ]

    def model_block(model: ServedModel) -> dict:
        return {
            "name": settings.registered_model,
            "version": model.version,
            "alias": model.alias,
            "feature_schema_version": model.feature_schema_version,
            "artifact_sha256": model.artifact_sha256,
        }

    def record(request_id: str, scored: Scored, rows: list[dict]) -> None:
        metrics.applicants.inc(len(rows))
        for row in rows:
            metrics.pd.observe(row["pd"])
        if request_log:
            request_log.append(
                scored.features.assign(
                    request_id=request_id,
                    received_at=pd.Timestamp.now(tz="UTC"),
                    model_version=scored.model.version,
                    pd=scored.pds,
                    decision=[row["decision"] for row in rows],
                )
            )
            metrics.request_log_dropped.set(request_log.dropped)

    async def handle(request: Request, batch: bool) -> Response:
        request_id = request.state.request_id
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError as err:
            problem = Problem(None, None, "json_well_formed", str(err))
            return _problem_response(request_id, [problem])
        if batch:
            applicants = payload.get("applicants") if isinstance(payload, dict) else None
            if not isinstance(applicants, list) or not applicants:
                rule = "applicants_is_nonempty_list"
                return _problem_response(request_id, [Problem(None, "applicants", rule)])
            if len(applicants) > settings.serve_batch_max:
                rule = f"at_most_{settings.serve_batch_max}_applicants"
                return _problem_response(
                    request_id, [Problem(None, "applicants", rule, len(applicants))]
                )
        else:
            applicants = [payload]
        reasons = request.query_params.get("reasons", "true").lower() not in ("0", "false", "no")
        request.state.applicants = len(applicants)
        try:
            if batch:
                scored = await run_in_threadpool(scorer.score, applicants, True, reasons)
            else:  # scored together with whatever other single requests are waiting
                scored = await run_in_threadpool(batcher.submit, payload, reasons)
        except Rejected as err:
            return _problem_response(request_id, err.problems)
        except NotReady as err:
            return JSONResponse(
                {"request_id": request_id, "detail": f"not ready: {err}"}, status_code=503
            )
        request.state.model_version = scored.model.version
        rows = results(scored)
        record(request_id, scored, rows)
        body = {"request_id": request_id, "model": model_block(scored.model),
                "policy_threshold": settings.policy_threshold}  # fmt: skip
        body |= {"results": rows} if batch else rows[0]
        return JSONResponse(body)

    @app.post("/v1/score", summary="Score one applicant: application row plus child rows")
    async def score_one(request: Request) -> Response:
        return await handle(request, batch=False)

    @app.post("/v1/score/batch", summary="Score up to serve_batch_max applicants")
    async def score_batch(request: Request) -> Response:
        return await handle(request, batch=True)

    @app.get("/health", summary="The process is up")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", summary="A verified champion is loaded")
    async def ready() -> Response:
        model = holder.current
        if model is None:
            return JSONResponse(
                {"ready": False, "detail": holder.last_error or "no champion loaded yet"},
                status_code=503,
            )
        return JSONResponse({"ready": True, "model": model_block(model),
                             "code_feature_schema_version": FEATURE_SCHEMA_VERSION})  # fmt: skip

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", summary="Re-check the champion alias now")
    async def admin_reload() -> dict:
        return await run_in_threadpool(reload)

    return app

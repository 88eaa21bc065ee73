"""The online scoring API (FastAPI): the champion's PD for one applicant or a batch.

Endpoints: ``POST /v1/score``, ``POST /v1/score/batch``, ``GET /health``, ``GET /ready``,
``GET /metrics`` (Prometheus) and ``POST /admin/reload``. Every request first passes the gate
(``serving.gate``: API key and scope, rate, body size, request id, metrics and log). A
request's rows are checked by the landing contracts and turned into features by the feature
store's own SQL (``serving.applicants``), then scored by the one champion version the request
picked up at its start (``serving.champion``). A bad request is a 422 naming table, row,
column, rule and value; the body is parsed here rather than by FastAPI so that malformed JSON
gets the same shape, and the models of ``serving.schemas`` only document it.

While a challenger exists (staged rollout), every scored request is scored again by it on the
same feature rows, on a thread of its own after the response is built: the response and its
latency are the champion's; the request log's row gains ``shadow_pd`` and ``shadow_version``.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import numpy as np
import orjson
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
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
from creditplatform.ml.reason_codes import score_with_reasons
from creditplatform.ml.registry import CHALLENGER, Registry
from creditplatform.serving import schemas
from creditplatform.serving.api_keys import KeyStore, RateLimiter
from creditplatform.serving.applicants import Problem, Rejected
from creditplatform.serving.batcher import MicroBatcher
from creditplatform.serving.champion import ChampionHolder, ServedModel
from creditplatform.serving.gate import Access, Gate
from creditplatform.serving.request_log import RequestLog
from creditplatform.serving.scorer import NotReady, Scored, Scorer
from creditplatform.settings import Settings

log = logging.getLogger("creditplatform.serve")
disable_created_metrics()  # no `*_created` series: they double /metrics and nobody graphs them
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PD_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)
# Paths that never need a key, whatever the settings: liveness, and the API's own description.
ALWAYS_OPEN = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"})
# Shadow passes waiting for the challenger at most; beyond, a request is logged without its
# shadow PD (counted), so a slow challenger can never grow memory or delay the champion.
SHADOW_BACKLOG = 256


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
        self.decisions = Counter(
            "creditplatform_decisions", "Applicants scored, by the policy's decision",
            ["decision"], registry=self.registry,
        )  # fmt: skip
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
        self.shadow_version = Gauge(
            "creditplatform_shadow_version", "Challenger version shadow-scoring (0: none)",
            registry=self.registry,
        )  # fmt: skip
        self.shadow = Counter(
            "creditplatform_shadow_applicants", "Applicants scored by the challenger in shadow, "
            "by outcome (scored, skipped: backlog full, failed)", ["outcome"],
            registry=self.registry,
        )  # fmt: skip
        self.request_log_dropped = Gauge(
            "creditplatform_request_log_dropped", "Scored rows dropped from the request log",
            registry=self.registry,
        )  # fmt: skip


def _json(body: dict, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _problem_response(request_id: str, problems: list[Problem]) -> Response:
    return _json({"request_id": request_id, "detail": [p.as_dict() for p in problems]}, 422)


def access_for(settings: Settings, keys: KeyStore | None) -> Access:
    """The gate's rules from ``settings``; ``keys`` None serves without keys (loopback only)."""
    opened = {p.strip() for p in settings.serve_open_paths.split(",") if p.strip()}
    return Access(
        keys,
        RateLimiter(settings.serve_rate_per_second, settings.serve_rate_burst),
        ALWAYS_OPEN | opened,
        int(settings.serve_max_body_mb * 1024 * 1024),
    )


def create_app(
    settings: Settings, registry: Registry | None = None, insecure_local: bool = False
) -> FastAPI:
    """The service for ``settings`` (one process; requests run on FastAPI's thread pool).

    Callers need a key from the data dir's key file (``serving.api_keys``) unless
    ``insecure_local`` (``creditplatform serve --insecure-local``, loopback only).
    """
    registry = registry or Registry.for_settings(settings)
    holder = ChampionHolder(registry)
    shadow_holder = ChampionHolder(registry, CHALLENGER)
    shadow_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shadow")
    shadow_slots = threading.BoundedSemaphore(SHADOW_BACKLOG)
    metrics = Metrics()
    scorer = Scorer(
        holder,
        settings.serve_reason_codes,
        lambda stage, seconds: metrics.stages.labels(stage).observe(seconds),
    )
    batcher = MicroBatcher(
        scorer, settings.serve_batch_max, settings.serve_scoring_threads,
        settings.serve_gather_ms / 1000,
    )  # fmt: skip
    request_log = RequestLog(settings.request_log_path) if settings.serve_request_log else None
    stop = threading.Event()

    def reload() -> dict:
        shadow = shadow_holder.reload()
        metrics.shadow_version.set(shadow_holder.current.version if shadow_holder.current else 0)
        if shadow.outcome in ("loaded", "failed"):
            level = logging.ERROR if shadow.outcome == "failed" else logging.INFO
            log.log(level, f"challenger reload: {shadow.outcome}", extra={
                "event": "shadow_reload", "outcome": shadow.outcome,
                "model_version": shadow.version, "detail": shadow.detail,
            })  # fmt: skip
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
        shadow_pool.shutdown(wait=True)
        scorer.features.close()
        if request_log:
            request_log.close()

    app = FastAPI(
        title="creditplatform scoring",
        summary="Probability of default for Home Credit applicants, by the champion model.",
        lifespan=lifespan,
    )
    app.state.holder, app.state.metrics, app.state.request_log = holder, metrics, request_log

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

    def log_rows(
        sink: RequestLog, scored: Scored, columns: dict, challenger: ServedModel | None
    ) -> None:
        """Append to the request log, with the challenger's PDs on the same rows if any."""
        n = len(scored.features)
        shadow_pd, shadow_version = pd.array([None] * n, "Float64"), pd.array([None] * n, "Int32")
        if challenger is not None:
            try:
                pds, _ = score_with_reasons(challenger.model, scored.features, {}, 0)
                shadow_pd = pd.array(np.asarray(pds, dtype=float), "Float64")
                shadow_version = pd.array([challenger.version] * n, "Int32")
                metrics.shadow.labels("scored").inc(n)
            except Exception as err:  # the champion's answer is out already; log and go on
                metrics.shadow.labels("failed").inc(n)
                log.error("shadow scoring failed", extra={
                    "event": "shadow_failed", "model_version": challenger.version,
                    "error": f"{type(err).__name__}: {err}",
                })  # fmt: skip
        sink.append(scored.features, **columns, shadow_pd=shadow_pd,
                   shadow_version=shadow_version)  # fmt: skip
        metrics.request_log_dropped.set(sink.dropped)

    def shadow_then_log(
        sink: RequestLog, scored: Scored, columns: dict, challenger: ServedModel
    ) -> None:
        try:
            log_rows(sink, scored, columns, challenger)
        finally:
            shadow_slots.release()

    def record(request_id: str, scored: Scored, rows: list[dict]) -> None:
        metrics.applicants.inc(len(rows))
        for row in rows:
            metrics.pd.observe(row["pd"])
            metrics.decisions.labels(row["decision"]).inc()
        if not request_log:  # shadow PDs go to the request log: without it there is no shadow
            return
        columns = {
            "request_id": request_id, "received_at": pd.Timestamp.now(tz="UTC"),
            "model_version": scored.model.version, "pd": scored.pds,
            "decision": [row["decision"] for row in rows],
        }  # fmt: skip
        challenger = shadow_holder.current
        if challenger is None or challenger.version == scored.model.version:
            # the log's own thread builds and writes the rows
            log_rows(request_log, scored, columns, None)
        elif shadow_slots.acquire(blocking=False):
            shadow_pool.submit(shadow_then_log, request_log, scored, columns, challenger)
        else:
            metrics.shadow.labels("skipped").inc(len(rows))
            log_rows(request_log, scored, columns, None)

    async def handle(request: Request, batch: bool) -> Response:
        request_id = request.state.request_id
        if not batch:
            batcher.expect()
        try:
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
            reasons = request.query_params.get("reasons", "true").lower() not in (
                "0", "false", "no",
            )  # fmt: skip
            request.state.applicants = len(applicants)
            if batch:
                scored = await run_in_threadpool(scorer.score, applicants, True, reasons)
            else:  # scored together with whatever other single requests are waiting
                scored = await run_in_threadpool(batcher.submit, payload, reasons)
        except Rejected as err:
            return _problem_response(request_id, err.problems)
        except NotReady as err:
            return _json({"request_id": request_id, "detail": f"not ready: {err}"}, 503)
        finally:
            if not batch:
                batcher.arrived()
        request.state.model_version = scored.model.version
        rows = results(scored)
        record(request_id, scored, rows)
        body = {"request_id": request_id, "model": model_block(scored.model),
                "policy_threshold": settings.policy_threshold}  # fmt: skip
        body |= {"results": rows} if batch else rows[0]
        return _json(body)

    @app.post(
        "/v1/score",
        summary="Score one applicant: application row plus child rows",
        response_model=None,
        responses={200: {"model": schemas.ScoreResponse}, **schemas.SCORING_RESPONSES},
        openapi_extra=schemas.request_body(schemas.ScoreRequest),
    )
    async def score_one(request: Request) -> Response:
        return await handle(request, batch=False)

    @app.post(
        "/v1/score/batch",
        summary="Score up to serve_batch_max applicants",
        response_model=None,
        responses={200: {"model": schemas.BatchResponse}, **schemas.SCORING_RESPONSES},
        openapi_extra=schemas.request_body(schemas.BatchRequest),
    )
    async def score_batch(request: Request) -> Response:
        return await handle(request, batch=True)

    @app.get("/health", summary="The process is up")
    async def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready", summary="A verified champion is loaded")
    async def ready() -> Response:
        model = holder.current
        if model is None:
            return _json(
                {"ready": False, "detail": holder.last_error or "no champion loaded yet"}, 503
            )
        return _json({"ready": True, "model": model_block(model),
                      "code_feature_schema_version": FEATURE_SCHEMA_VERSION})  # fmt: skip

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/admin/reload", summary="Re-check the champion alias now (admin scope)",
              responses=schemas.REFUSALS)  # fmt: skip
    async def admin_reload() -> dict:
        return await run_in_threadpool(reload)

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, summary=app.summary,
                               routes=app.routes)  # fmt: skip
            spec.setdefault("components", {}).setdefault("schemas", {}).update(
                schemas.component_schemas()
            )
            spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            spec["security"] = [{"bearer": []}]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents replacing openapi

    def observe(path: str, status: int, seconds: float) -> None:
        metrics.requests.labels(path, str(status)).inc()
        metrics.latency.labels(path).observe(seconds)

    keys = None if insecure_local else KeyStore(settings.api_keys_path)
    app.add_middleware(Gate, access=access_for(settings, keys), observe=observe)
    return app

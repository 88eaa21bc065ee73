"""The scoring API's request and response bodies as pydantic models, for ``/docs`` and OpenAPI.

The row models are generated from the Home Credit table specs (``homecredit.TABLES``), so the
documented columns and types are the contract's own: integer columns are JSON integers and
never null, float columns numbers or null, text columns strings or null; ``TARGET`` may be left
out. They describe the bodies; they do not parse them. Requests are still checked by
``serving.applicants`` (the landing contracts), whose 422 names table, row, column, rule and
value, which pydantic's errors cannot.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, create_model

from creditplatform.homecredit import TABLE_NAMES, TABLES

_TYPES: dict[str, Any] = {"int64": StrictInt, "float64": float | None, "str": str | None}


def _row_model(table: str) -> type[BaseModel]:
    spec = TABLES[table]
    fields: dict[str, Any] = {}
    for column in spec.columns:
        if table == "application" and column == "TARGET":
            fields[column] = (StrictInt | None, None)
        else:
            fields[column] = (_TYPES[spec.dtypes[column]], ...)
    name = "".join(part.capitalize() for part in table.lower().split("_")) + "Row"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


ROWS = {table: _row_model(table) for table in TABLE_NAMES}

# The row models are built from the table specs at import, so their types are runtime values.
_REQUEST_FIELDS: dict[str, Any] = {
    table: (ROWS[table], ...) if table == "application" else (list[ROWS[table]], ...)  # type: ignore[valid-type]  # runtime-built models
    for table in TABLE_NAMES
}
ScoreRequest = create_model(
    "ScoreRequest", __config__=ConfigDict(extra="forbid"), **_REQUEST_FIELDS
)
ScoreRequest.__doc__ = (
    "One applicant: the application row and the applicant's rows of every other table "
    "(Kaggle Home Credit column names; every child row names this applicant)."
)


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    applicants: list[ScoreRequest] = Field(min_length=1)  # type: ignore[valid-type]  # a model built at import


class ReasonCode(BaseModel):
    feature: str
    value: float | str | None
    reference: float | str | None
    contribution: float = Field(description="Drop in the model's log-odds score if typical")


class ModelBlock(BaseModel):
    name: str
    version: int
    alias: str
    feature_schema_version: int
    artifact_sha256: str


class Score(BaseModel):
    SK_ID_CURR: int
    pd: float = Field(ge=0, le=1, description="Probability of default")
    decision: Literal["approve", "decline"]
    reason_codes: list[ReasonCode]


class ScoreResponse(Score):
    request_id: str
    model: ModelBlock
    policy_threshold: float


class BatchResponse(BaseModel):
    request_id: str
    model: ModelBlock
    policy_threshold: float
    results: list[Score]


class ProblemItem(BaseModel):
    table: str | None
    column: str | None
    rule: str
    value: Any = None
    row: int | None
    applicant: int | None
    message: str


class Problems(BaseModel):
    request_id: str
    detail: list[ProblemItem]


class Refusal(BaseModel):
    """401, 403, 413, 429, 500 and 503 bodies."""

    request_id: str
    detail: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Refusal, "description": "No key, or a key that is not known"},
    403: {"model": Refusal, "description": "The key lacks the scope"},
    413: {"model": Refusal, "description": "Request body over the size limit"},
    429: {"model": Refusal, "description": "Over the key's rate (see Retry-After)"},
}
SCORING_RESPONSES: dict[int | str, dict[str, Any]] = {
    **REFUSALS,
    422: {"model": Problems, "description": "The request breaks a contract"},
    503: {"model": Refusal, "description": "No verified champion loaded"},
}


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON body (parsed by the endpoint)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
            },
        }
    }


def component_schemas() -> dict[str, Any]:
    """The request models' JSON schemas, for the OpenAPI ``components`` section."""
    found: dict[str, Any] = {}
    for model in (ScoreRequest, BatchRequest):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found |= schema.pop("$defs", {})
        found[model.__name__] = schema
    return found

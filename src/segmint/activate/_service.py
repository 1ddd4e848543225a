"""The scoring service: a small FastAPI app around a saved model.

Endpoints (all under bearer-token auth except ``/healthz`` and the OpenAPI document):

* ``POST /v1/score``: a batch of customers with their feature values, or raw recent
  transactions, to segment id, name and (when the model gives them) probabilities.
* ``GET /v1/segments`` and ``GET /v1/segments/{id}``: the segments, with the profile row
  (``profiles.csv``) and card (``model.json``, typing-tool rules, ``cards.json`` when present).
* ``GET /healthz``: liveness and the model fingerprint.

Limits: at most ``max_customers`` customers per request (413 beyond) and a body of at most
``max_body_bytes`` (413). Missing token: 401; wrong token: 403; invalid body: 422 with the
field and the reason.
"""

import json
import math
import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from segmint import __version__
from segmint.activate._model import SegmentModel, load_model
from segmint.activate._scoring import compute_features, predict_ids
from segmint.activate._service_contract import (
    _ERRORS,
    MAX_BODY_BYTES,
    MAX_CUSTOMERS,
    MAX_TRANSACTIONS,
    BodyLimit,
    CustomerFeatures,
    ErrorBody,
    Health,
    ScoreRequest,
    ScoreResponse,
    SegmentDetail,
    SegmentSummary,
)
from segmint.exceptions import SegmintError


def _clean(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _segment_details(model: SegmentModel) -> dict[int, dict[str, Any]]:
    details: dict[int, dict[str, Any]] = {}
    profiles = None
    cards: dict[str, Any] = {}
    if model.run_dir is not None:
        if (model.run_dir / "profiles.csv").exists():
            profiles = pd.read_csv(model.run_dir / "profiles.csv")
        if (model.run_dir / "cards.json").exists():
            loaded = json.loads((model.run_dir / "cards.json").read_text(encoding="utf-8"))
            if isinstance(loaded, list):
                cards = {str(c.get("segment_id", c.get("id"))): c for c in loaded}
            elif isinstance(loaded, dict):
                cards = {str(k): v for k, v in loaded.items()}
    rules = model.typing_tool.rules_ if model.typing_tool is not None else []
    for seg in model.document["segments"]:
        sid = int(seg["id"])
        profile = None
        if profiles is not None and "segment_id" in profiles:
            match = profiles[profiles["segment_id"] == sid]
            if len(match):
                profile = {str(k): _clean(v) for k, v in match.iloc[0].to_dict().items()}
        card: dict[str, Any] = {
            "id": sid,
            "name": seg["name"],
            "customers": seg["customers"],
            "share": seg["share"],
            "how_to_recognise": [
                {"conditions": r["conditions"], "purity": r["purity"]}
                for r in rules
                if int(r["segment"]) == sid
            ],
        }
        if str(sid) in cards:
            card["persona"] = cards[str(sid)]
        details[sid] = {**seg, "profile": profile, "card": card}
    return details


# A scored batch: the ids of the scored customers, their segment ids and, when the model
# gives them, membership probabilities (rows in segment-id order)
_Scored = tuple[list[str], np.ndarray, np.ndarray | None]


def _score_customers(
    model: SegmentModel, customers: list[CustomerFeatures], names: list[str], limit: int
) -> tuple[list[str], _Scored | None]:
    if len(customers) > limit:
        raise HTTPException(413, f"At most {limit} customers per request.")
    wanted = set(names)
    for c in customers:
        if c.features.keys() != wanted:
            missing = sorted(wanted - set(c.features))
            extra = sorted(set(c.features) - wanted)
            raise HTTPException(
                422,
                f"Customer {c.customer_id!r}: features must be exactly the model's. "
                f"Missing: {missing[:10]}; unknown: {extra[:10]}.",
            )
    ids = [c.customer_id for c in customers]
    if not ids:
        return ids, None
    values = np.array([[c.features[n] for n in names] for c in customers], dtype=float)
    # numbers only: the ids stay a list, so no text column is built and converted per request
    segments, proba = predict_ids(model, pd.DataFrame(values, columns=names))
    return ids, (ids, segments, proba)


def _score_transactions(
    model: SegmentModel, request: ScoreRequest, limit: int
) -> tuple[list[str], _Scored | None]:
    rows = [t.model_dump() for t in request.transactions or []]
    ids = list(dict.fromkeys(r["customer_id"] for r in rows))
    if len(ids) > limit:
        raise HTTPException(413, f"At most {limit} customers per request.")
    if len(rows) > MAX_TRANSACTIONS:
        raise HTTPException(413, f"At most {MAX_TRANSACTIONS} transactions per request.")
    if not rows:
        return ids, None
    frame = pd.DataFrame(rows)
    frame = frame[[c for c in frame.columns if frame[c].notna().any()]]
    try:
        features = compute_features(model, frame, as_of=request.as_of)
        if not len(features):
            return ids, None
        segments, proba = predict_ids(model, features)
    except SegmintError as exc:
        raise HTTPException(422, str(exc)) from None
    return ids, (features["customer_id"].astype(str).tolist(), segments, proba)


_UNSCORED = {"segment_id": None, "segment_name": None, "probabilities": None}


def _score_response(
    model: SegmentModel, snapshot: str, ids: list[str], scored: _Scored | None
) -> Response:
    """The ``ScoreResponse`` JSON, written from the score arrays without a model per row."""
    found: dict[str, int] = {}
    segment_ids: list[int] = []
    probabilities = None
    if scored is not None:
        found = dict(zip(scored[0], range(len(scored[0])), strict=True))
        segment_ids = scored[1].tolist()
        if scored[2] is not None:
            probabilities = np.round(scored[2], 6).tolist()
    keys = [str(j) for j in model.segment_ids]
    results = []
    for cid in ids:
        row = found.get(cid)
        if row is None:
            results.append({"customer_id": cid, **_UNSCORED})
            continue
        sid = int(segment_ids[row])
        results.append(
            {
                "customer_id": cid,
                "segment_id": sid,
                "segment_name": model.names.get(sid, f"segment {sid}"),
                "probabilities": None
                if probabilities is None
                else dict(zip(keys, probabilities[row], strict=False)),
            }
        )
    body = {"model": model.fingerprint, "snapshot_date": snapshot, "results": results}
    return Response(
        json.dumps(body, allow_nan=False, separators=(",", ":")).encode(),
        media_type="application/json",
    )


def create_app(
    model: SegmentModel | str | Path,
    token: str,
    *,
    max_customers: int = MAX_CUSTOMERS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The FastAPI app serving ``model``; requests need ``Authorization: Bearer <token>``."""
    if not token:
        raise SegmintError("The service needs a non-empty token.", hint="Set SEGMINT_TOKEN.")
    if not isinstance(model, SegmentModel):
        model = load_model(model)
    details = _segment_details(model)
    names = list(model.spec.names)
    # /docs and /redoc would load Swagger UI / ReDoc from a CDN, which an air-gapped service
    # cannot reach: they are off; the OpenAPI document is served at /openapi.json
    app = FastAPI(
        title="segmint scoring service",
        version=__version__,
        description="Assign customers to the segments of a saved segmint model.",
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    bearer = HTTPBearer(auto_error=False)
    expected = token.encode()

    async def authorised(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if credentials is None:
            raise HTTPException(
                401, "Missing bearer token.", headers={"WWW-Authenticate": "Bearer"}
            )
        if not secrets.compare_digest(credentials.credentials.encode(), expected):
            raise HTTPException(403, "Invalid bearer token.")

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        """Liveness, and which model is served."""
        return Health(
            status="ok",
            model=model.fingerprint,
            method=model.method,
            segments=len(model.names),
            segmint_version=__version__,
        )

    @app.post(
        "/v1/score",
        response_model=ScoreResponse,
        dependencies=[Depends(authorised)],
        responses={
            **_ERRORS,
            400: {"model": ErrorBody, "description": "The body is not valid JSON"},
            413: {"model": ErrorBody, "description": "Too many customers or body too large"},
            422: {"model": ErrorBody, "description": "Invalid request"},
        },
    )
    async def score_batch(request: ScoreRequest) -> Response:
        """Segment a batch of customers from feature values or raw transactions."""
        # async: scoring a batch takes about a millisecond, less than the hop to a worker
        # thread that a plain function would cost; workers (processes) give the parallelism
        snapshot = str(request.as_of or model.spec.snapshot_date)
        if request.customers is not None:
            ids, scored = _score_customers(model, request.customers, names, max_customers)
        else:
            ids, scored = _score_transactions(model, request, max_customers)
        return _score_response(model, snapshot, ids, scored)

    @app.get(
        "/v1/segments",
        response_model=list[SegmentSummary],
        dependencies=[Depends(authorised)],
        responses=_ERRORS,
    )
    def segments() -> list[SegmentSummary]:
        """Every segment: id, name, size and share."""
        return [
            SegmentSummary(id=d["id"], name=d["name"], customers=d["customers"], share=d["share"])
            for d in details.values()
        ]

    @app.get(
        "/v1/segments/{segment_id}",
        response_model=SegmentDetail,
        dependencies=[Depends(authorised)],
        responses={**_ERRORS, 404: {"model": ErrorBody, "description": "No such segment"}},
    )
    def segment(segment_id: Annotated[int, PathParam(ge=0, le=1_000_000)]) -> SegmentDetail:
        """One segment with its profile and card."""
        if segment_id not in details:
            raise HTTPException(404, f"No segment {segment_id}; known: {sorted(details)}.")
        return SegmentDetail(**details[segment_id])

    @app.exception_handler(SegmintError)
    async def _segmint_error(_: Any, exc: SegmintError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(exc)})

    @app.exception_handler(RequestValidationError)
    async def _invalid_body(_: Any, exc: RequestValidationError) -> JSONResponse:
        # the errors without the offending input: it may hold NaN or Infinity (which JSON
        # cannot carry) or a large payload
        detail = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": detail})

    return app


# what a worker process of ``serve(workers > 1)`` reads to build its app (uvicorn starts
# workers from an import string, not from an app object)
_MODEL_VARIABLE = "SEGMINT_SERVE_MODEL"
_TOKEN_VARIABLE = "SEGMINT_SERVE_TOKEN_VARIABLE"


def app_from_environment() -> FastAPI:
    """The app of one worker process: the model and token named by ``serve``'s variables."""
    return create_app(os.environ[_MODEL_VARIABLE], os.environ[os.environ[_TOKEN_VARIABLE]])


def serve(
    model: str | Path,
    *,
    token: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    token_variable: str = "SEGMINT_TOKEN",
) -> None:
    """Run the service with uvicorn until interrupted.

    Parameters
    ----------
    model : str or Path
        Run folder or ``model.json``.
    token : str
        The bearer token requests must carry.
    host, port : str, int
        Where to listen.
    workers : int, default 1
        Worker processes. Each holds the model and answers requests on its own core; with
        more than one, every worker reads the token from the environment variable
        ``token_variable`` (which must hold ``token``), so the secret never appears in
        a command line.
    token_variable : str, default "SEGMINT_TOKEN"
        The environment variable holding the token (used when ``workers > 1``).
    """
    import uvicorn

    app = create_app(model, token)  # the model is checked once, before any worker starts
    if workers <= 1:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    if os.environ.get(token_variable) != token:
        raise SegmintError(
            f"With {workers} workers the token must be in the environment variable "
            f"{token_variable}.",
            hint=f"export {token_variable}=<the token>",
        )
    os.environ[_MODEL_VARIABLE] = str(Path(model).resolve())
    os.environ[_TOKEN_VARIABLE] = token_variable
    uvicorn.run(
        "segmint.activate._service:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )

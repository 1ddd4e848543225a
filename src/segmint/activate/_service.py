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
import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from segmint import __version__
from segmint.activate._model import SegmentModel, load_model
from segmint.activate._scoring import compute_features, score_features
from segmint.exceptions import SegmintError

MAX_CUSTOMERS = 10_000
MAX_TRANSACTIONS = 200_000
MAX_BODY_BYTES = 16 * 1024 * 1024

Number = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
Amount = Annotated[float, Field(allow_inf_nan=False, ge=-1e9, le=1e9)]
Text = Annotated[str, Field(min_length=1, max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomerFeatures(_Body):
    """A customer with every feature of the model."""

    customer_id: Text
    features: dict[str, Number] = Field(
        description="Feature name -> value, for every feature of the model (GET /v1/segments "
        "lists the segments; the feature names are in the model's spec)."
    )


class Transaction(_Body):
    """One transaction line, in the canonical columns."""

    customer_id: Text
    order_date: date
    amount: Amount
    order_id: Text | None = None
    quantity: Amount | None = None
    category: Text | None = None
    channel: Text | None = None
    discount: Amount | None = None


class ScoreRequest(_Body):
    """Either ``customers`` (feature values) or ``transactions`` (raw recent purchases)."""

    customers: list[CustomerFeatures] | None = None
    transactions: list[Transaction] | None = None
    as_of: date | None = Field(
        default=None, description="Snapshot for transactions; default: the model's."
    )

    @model_validator(mode="after")
    def _one_input(self) -> "ScoreRequest":
        if (self.customers is None) == (self.transactions is None):
            raise ValueError("give exactly one of 'customers' or 'transactions'")
        return self


class SegmentScore(BaseModel):
    customer_id: str
    segment_id: int | None
    segment_name: str | None
    probabilities: dict[str, float] | None = None


class ScoreResponse(BaseModel):
    model: str
    snapshot_date: str
    results: list[SegmentScore]


class SegmentSummary(BaseModel):
    id: int
    name: str
    customers: int
    share: float


class SegmentDetail(SegmentSummary):
    profile: dict[str, float | str | None] | None = None
    card: dict[str, Any] | None = None


class Health(BaseModel):
    status: str
    model: str
    method: str
    segments: int
    segmint_version: str


class ErrorBody(BaseModel):
    detail: Any


_ERRORS = {
    401: {"model": ErrorBody, "description": "Missing bearer token"},
    403: {"model": ErrorBody, "description": "Invalid bearer token"},
}


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _too_large(self, send: Any) -> None:
        body = json.dumps(
            {"detail": f"Request body larger than {self.max_bytes} bytes."}, allow_nan=False
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._too_large(send)
                return
            await self.app(scope, receive, send)
            return
        chunks, total, more = [], 0, True
        while more:  # streamed (chunked) body: count while reading, then replay it
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks.append(message.get("body", b""))
            total += len(chunks[-1])
            more = message.get("more_body", False)
            if total > self.max_bytes:
                await self._too_large(send)
                return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


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

    def authorised(
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
    def score_batch(request: ScoreRequest) -> ScoreResponse:
        """Segment a batch of customers from feature values or raw transactions."""
        snapshot = str(request.as_of or model.spec.snapshot_date)
        if request.customers is not None:
            if len(request.customers) > max_customers:
                raise HTTPException(413, f"At most {max_customers} customers per request.")
            ids = [c.customer_id for c in request.customers]
            bad = [c.customer_id for c in request.customers if set(c.features) != set(names)]
            if bad:
                first = next(c for c in request.customers if c.customer_id == bad[0])
                missing = sorted(set(names) - set(first.features))
                extra = sorted(set(first.features) - set(names))
                raise HTTPException(
                    422,
                    f"Customer {bad[0]!r}: features must be exactly the model's. "
                    f"Missing: {missing[:10]}; unknown: {extra[:10]}.",
                )
            values = np.array([[c.features[n] for n in names] for c in request.customers])
            features = pd.DataFrame(values.reshape(len(ids), len(names)), columns=names)
            features.insert(0, "customer_id", ids)
            scored = score_features(model, features) if len(ids) else None
        else:
            rows = [t.model_dump() for t in request.transactions or []]
            ids = list(dict.fromkeys(r["customer_id"] for r in rows))
            if len(ids) > max_customers:
                raise HTTPException(413, f"At most {max_customers} customers per request.")
            if len(rows) > MAX_TRANSACTIONS:
                raise HTTPException(413, f"At most {MAX_TRANSACTIONS} transactions per request.")
            frame = pd.DataFrame(rows)
            frame = frame[[c for c in frame.columns if frame[c].notna().any()]]
            try:
                features = compute_features(model, frame, as_of=request.as_of) if rows else None
                scored = (
                    score_features(model, features)
                    if features is not None and len(features)
                    else None
                )
            except SegmintError as exc:
                raise HTTPException(422, str(exc)) from None
        by_id: dict[str, dict[str, Any]] = {}
        if scored is not None:
            by_id = {r["customer_id"]: r for r in scored.to_dict(orient="records")}
        results = []
        for cid in ids:
            hit = by_id.get(cid)
            probabilities = None
            if hit is not None and "probabilities" in hit:
                probabilities = {
                    str(j): float(p)
                    for j, p in zip(model.segment_ids, hit["probabilities"], strict=False)
                }
            results.append(
                SegmentScore(
                    customer_id=cid,
                    segment_id=None if hit is None else int(hit["segment_id"]),
                    segment_name=None if hit is None else str(hit["segment_name"]),
                    probabilities=probabilities,
                )
            )
        return ScoreResponse(model=model.fingerprint, snapshot_date=snapshot, results=results)

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


def serve(model: str | Path, *, token: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    app = create_app(model, token)
    uvicorn.run(app, host=host, port=port, log_level="warning")

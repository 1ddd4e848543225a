"""The scoring service's HTTP contract: request and response bodies, limits, the body-size guard.

The bodies are pydantic models, so the OpenAPI document (``/openapi.json``) states every field,
its type and its bounds; the app itself is in :mod:`segmint.activate._service`.
"""

import json
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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

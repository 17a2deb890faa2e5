"""JSON-safe validation errors: pydantic echoes the offending input, which may be a non-finite
float (`1e999`, `NaN` parse to inf/nan) that strict JSON cannot encode. Without this, such input
turns FastAPI's 422 into a 500."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError


def json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def validation_errors(exc: ValidationError | RequestValidationError) -> list[Any]:
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_context=False)
    else:
        errors = exc.errors()
    return json_safe(jsonable_encoder(errors))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _request_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": validation_errors(exc)})

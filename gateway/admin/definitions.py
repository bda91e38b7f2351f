"""``/v1/definitions``: message definitions, and starting a run of one.

A run starts with ``POST /v1/definitions/{name}/runs`` and either a JSON body
naming a folder under the spool directory (``{"batch": "2026-11",
"invoices": "monthly-invoice/2026-11"}``) or a multipart upload: a ``batch``
field and one file per document, each named ``CUSTOMER_ID/FILE_NAME``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from gateway import json_input
from gateway.admin import Api, read_json
from gateway.billing.batches import batch_id, customer_folder, inside
from gateway.billing.definitions import NAME, DefinitionStore, apply, rollback
from gateway.errors import GatewayError, InvalidInput, MalformedBodyError, NotFoundError
from gateway.openapi import Json, json_body, operation, path_param, simple
from gateway.presenters import definition_version_json, diagnosis_json, draft_json

MAX_UPLOAD = 512 * 1024 * 1024
_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

SCOPE = "settings:manage"
OPERATE = "queue:operate"
OPENAPI: dict[str, Json] = simple(
    SCOPE,
    ("get", "/v1/definitions", "Every message definition"),
    ("get", "/v1/definitions/{name}", "One message definition"),
    ("put", "/v1/definitions/{name}", "Create or replace a message definition"),
    ("post", "/v1/definitions/{name}/preview", "The email a customer would get, unsent"),
    ("post", "/v1/definitions/{name}/send-test", "Send a customer's email to an address"),
    ("get", "/v1/definitions/{name}/versions", "Every version of a definition"),
    ("post", "/v1/definitions/{name}/rollback", "Bring back an earlier version"),
) | {
    "/v1/definitions/{name}/runs": {
        "post": operation(
            "Start a definition run for a batch (a JSON body or a multipart upload)",
            scope=OPERATE,
            ok={202: json_body({"type": "object"}, "The run, started or a duplicate")},
            problems=(400, 404, 415, 422),
            parameters=[path_param("name", "The definition's name")],
        )
    }
}


def routes(api: Api) -> list[web.RouteDef]:
    store: DefinitionStore = api.store

    async def list_definitions(request: web.Request) -> web.Response:
        listed = await store.list_definitions()
        return web.json_response({"definitions": [asdict(d) for d in listed]})

    async def show_definition(request: web.Request) -> web.Response:
        return web.json_response(asdict(await store.get_definition(request.match_info["name"])))

    async def put_definition(request: web.Request) -> web.Response:
        body = await read_json(request)
        body.setdefault("name", request.match_info["name"])
        if body["name"] != request.match_info["name"]:
            raise InvalidInput("#/name", "must match the name in the path")
        composer = api.services.composer
        definition = await apply(
            api.store,
            composer.templates,
            body,
            brand=await composer.brand(),
            actor=api.actor_of(request),
        )
        return web.json_response(asdict(definition))

    async def _batch(body: dict[str, Any], name: str) -> Path | None:
        batch = body.get("batch")
        if batch is None:
            return None
        if not isinstance(batch, str):
            raise InvalidInput("#/batch", "must be a folder inside the spool directory")
        spool = api.services.config.runs.spool_dir
        return await asyncio.to_thread(inside, spool, batch, "#/batch")

    def _customer(body: dict[str, Any]) -> str:
        customer = body.get("customer")
        if not isinstance(customer, str) or not customer:
            raise InvalidInput("#/customer", "must be a customer id")
        return customer

    async def preview(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await read_json(request)
        draft = await api.batches.draft(name, _customer(body), await _batch(body, name))
        return web.json_response(draft_json(draft))

    async def send_test(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        body = await read_json(request)
        to = body.get("to")
        if not isinstance(to, str):
            raise InvalidInput("#/to", "must be an email address")
        diagnosis = await api.batches.send_test(
            api.store, api.services.config, name, _customer(body), to, await _batch(body, name)
        )
        return web.json_response(diagnosis_json(to, diagnosis), status=200 if diagnosis.ok else 502)

    async def versions(request: web.Request) -> web.Response:
        listed = await api.store.definition_versions(request.match_info["name"])
        return web.json_response({"versions": [definition_version_json(v) for v in listed]})

    async def rollback_definition(request: web.Request) -> web.Response:
        body = await read_json(request)
        version = body.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise InvalidInput("#/version", "must be a version number")
        composer = api.services.composer
        definition = await rollback(
            api.store,
            composer.templates,
            request.match_info["name"],
            version,
            brand=await composer.brand(),
            actor=api.actor_of(request),
        )
        return web.json_response(asdict(definition))

    async def start_run(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not NAME.match(name):
            raise NotFoundError(f"no message definition {name!r}")
        await store.get_definition(name)
        spool = api.services.config.runs.spool_dir
        json_input.check_media_type(request, (*json_input.JSON_TYPES, "multipart/form-data"))
        if request.content_type.startswith("multipart/"):
            batch, invoices = await _upload(request, spool / name)
        else:
            body = await read_json(request)
            batch = batch_id(str(body.get("batch", "")))
            invoices = await asyncio.to_thread(inside, spool, str(body.get("invoices", "")))
        run_id, created = await api.batches.begin(name, batch, invoices)
        return web.json_response(
            {
                "run_id": run_id,
                "status": "running" if created else "duplicate",
                "duplicate": not created,
            },
            status=202,
        )

    return [
        web.get("/v1/definitions", api.protect(list_definitions, scope=SCOPE)),
        web.get("/v1/definitions/{name}", api.protect(show_definition, scope=SCOPE)),
        web.put("/v1/definitions/{name}", api.protect(put_definition, scope=SCOPE)),
        web.post("/v1/definitions/{name}/preview", api.protect(preview, scope=SCOPE)),
        web.post("/v1/definitions/{name}/send-test", api.protect(send_test, scope=SCOPE)),
        web.get("/v1/definitions/{name}/versions", api.protect(versions, scope=SCOPE)),
        web.post("/v1/definitions/{name}/rollback", api.protect(rollback_definition, scope=SCOPE)),
        web.post("/v1/definitions/{name}/runs", api.protect(start_run, scope=OPERATE)),
    ]


async def _upload(request: web.Request, folder: Path) -> tuple[str, Path]:
    """Write the uploaded documents under ``folder``/BATCH; return the batch id
    and its folder. Files land in a hidden folder first and appear under the
    batch id only when the whole upload has arrived."""
    staging = folder / f".upload-{secrets.token_hex(8)}"
    await asyncio.to_thread(staging.mkdir, parents=True, mode=0o700)
    try:
        with _multipart_faults():
            batch = await _receive(request, staging)
        target = folder / batch
        if not await asyncio.to_thread(target.exists):
            await asyncio.to_thread(staging.rename, target)
        return batch, target
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


@contextlib.contextmanager
def _multipart_faults() -> Iterator[None]:
    """aiohttp's multipart reader raises ValueError (a missing boundary, a part
    that is not UTF-8 text) or its own parse errors for a body that is not
    multipart/form-data: those are the client's, so 400."""
    try:
        yield
    except GatewayError:
        raise
    except HttpProcessingError as exc:
        reason = exc.message.strip().splitlines()[0].rstrip(":") if exc.message else str(exc)
        raise MalformedBodyError(reason, media="multipart/form-data") from exc
    except ValueError as exc:
        raise MalformedBodyError(str(exc), media="multipart/form-data") from exc


async def _receive(request: web.Request, staging: Path) -> str:
    reader = await request.multipart()
    batch = None
    received = 0
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("#", "nested multipart bodies are not accepted")
        field = part.name or ""
        if field == "batch":
            batch = batch_id((await part.text()).strip())
            continue
        customer, _, filename = field.partition("/")
        customer_folder(customer, f"#/{field}")
        if not _FILE.match(filename) or ".." in filename:
            raise InvalidInput(f"#/{field}", "must be CUSTOMER_ID/FILE_NAME")
        path = staging / customer / filename
        await asyncio.to_thread(path.parent.mkdir, exist_ok=True)
        with path.open("wb") as out:
            while chunk := await part.read_chunk():
                received += len(chunk)
                if received > MAX_UPLOAD:
                    raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD, actual_size=received)
                out.write(chunk)
    if batch is None:
        raise InvalidInput("#/batch", "is required")
    return batch

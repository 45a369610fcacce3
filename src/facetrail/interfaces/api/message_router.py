"""The router: forwards signed step-1 and step-2 messages between registered nodes.

Like the EU's central router it sees who asks whom, when, and how many hits came back,
and logs exactly that (hash-chained, kept for a set period); the bodies it forwards
unchanged, and never stores. Senders must be registered and sign with their key.

What the router says itself (a refusal, a node that did not answer or could not be
reached) is a signed message too (`router.refusal`, from "router", in reply to the nonce
refused), so a node can tell the router's word from anyone's on the path.
"""

from __future__ import annotations

import argparse
import ssl
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from facetrail.errors import FacetrailError
from facetrail.security.messages import (
    MAX_BODY,
    ROUTER_SENDER,
    SENDER_HEADER,
    SIGNATURE_HEADER,
    envelope_fields,
    new_message,
    seal,
)
from facetrail.security.signing import fingerprint as key_fingerprint
from facetrail.security.signing import verify
from facetrail.security.tls import pinned_context
from facetrail.services.federation_wire import FORWARD_PATH, MESSAGES_PATH
from facetrail.store.router_log import RouterLog
from facetrail.store.router_nodes import load_nodes, router_certificate, router_signing_key
from facetrail.store.types import utcnow

DEFAULT_RETENTION_DAYS = 90
DEFAULT_TIMEOUT = 30.0
PRUNE_EVERY_S = 3600.0


def create_router_app(
    folder: Path, retention_days: int = DEFAULT_RETENTION_DAYS, timeout: float = DEFAULT_TIMEOUT
) -> FastAPI:
    """The router app over a router home (its node list and its log)."""
    log = RouterLog(folder, retention_days)
    log.prune()
    signing_key, public_key = router_signing_key(folder)
    fingerprint = key_fingerprint(public_key)
    pruned = {"at": time.monotonic()}
    app = FastAPI(title="facetrail federation router")

    def record(
        started: float, fields: dict[str, Any], outcome: str, status: int, **more: Any
    ) -> None:
        log.append(
            request_id=fields.get("request_id"),
            kind=fields.get("kind"),
            outcome=outcome,
            http_status=status,
            ms=round((time.perf_counter() - started) * 1000, 1),
            **{"from": fields.get("from"), "to": fields.get("to")},
            **more,
        )
        if time.monotonic() - pruned["at"] > PRUNE_EVERY_S:
            pruned["at"] = time.monotonic()
            log.prune()

    def signed(fields: dict[str, Any], status: int, answer: str, reason: str) -> Response:
        """The router's own answer, signed with its key, for the sender of `fields`."""
        text = {k: v if isinstance(v, str) and v else "?" for k, v in fields.items()}
        message = new_message(
            "router.refusal",
            ROUTER_SENDER,
            text["from"],
            text["request_id"],
            utcnow(),
            {"status": answer, "reason": f"router: {reason}", "http_status": status},
            in_reply_to=fields.get("nonce") if isinstance(fields.get("nonce"), str) else None,
        )
        sealed = seal(signing_key, message)
        return Response(
            sealed.body, status_code=status, headers=sealed.headers(), media_type="application/json"
        )

    def refuse(started: float, fields: dict[str, Any], status: int, reason: str) -> Response:
        record(started, fields, "refused", status)
        return signed(fields, status, "refused", reason)

    @app.post(FORWARD_PATH + "{destination}")
    async def forward(destination: str, request: Request) -> Response:
        """Check the sender's signature, forward the exact bytes, return the exact answer."""
        started = time.perf_counter()
        body = await request.body()
        sender = request.headers.get(SENDER_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER)
        try:
            fields = envelope_fields(body)
        except FacetrailError:
            claimed = {"from": sender, "to": destination, "request_id": None, "nonce": None}
            return refuse(started, claimed, 400, "not a message")
        if len(body) > MAX_BODY:
            return refuse(started, fields, 413, "message too large")
        nodes = load_nodes(folder)  # read per message: `router nodes add` needs no restart
        if sender not in nodes:
            return refuse(started, fields, 403, f"{sender!r} is not a node of this router")
        try:
            verify(nodes[sender].public_key, body, signature, sender)
        except FacetrailError as error:
            return refuse(started, fields, 401, str(error))
        if destination not in nodes or fields.get("to") != destination:
            return refuse(started, fields, 404, f"no node {destination!r} behind this router")
        headers = {
            SENDER_HEADER: sender,
            SIGNATURE_HEADER: signature or "",
            "content-type": "application/json",
        }
        try:
            pin = nodes[destination].tls_certificate
            trust: ssl.SSLContext | bool = pinned_context(pin.encode()) if pin else True
            async with httpx.AsyncClient(timeout=timeout, verify=trust) as client:
                answer = await client.post(
                    nodes[destination].url + MESSAGES_PATH, content=body, headers=headers
                )
        except httpx.TimeoutException:
            record(started, fields, "timeout", 504)
            return signed(fields, 504, "timeout", f"{destination} did not answer in {timeout:g} s")
        except httpx.HTTPError as error:
            record(started, fields, "unreachable", 502)
            return signed(
                fields, 502, "error", f"{destination} unreachable ({type(error).__name__})"
            )
        try:
            answered = envelope_fields(answer.content)
        except FacetrailError:
            answered = {}
        record(
            started,
            fields,
            "forwarded",
            answer.status_code,
            answer_status=answered.get("status"),
            hits=answered.get("hits"),
        )
        reply_headers = {
            name: answer.headers[name]
            for name in (SENDER_HEADER, SIGNATURE_HEADER)
            if name in answer.headers
        }
        return Response(
            answer.content,
            status_code=answer.status_code,
            headers=reply_headers,
            media_type="application/json",
        )

    @app.get("/router/v1/health")
    def health() -> dict[str, Any]:
        """Whether the router runs, the nodes it knows, and its signing key's fingerprint."""
        return {"ok": True, "nodes": sorted(load_nodes(folder)), "fingerprint": fingerprint}

    return app


def serve(
    folder: Path, host: str, port: int, retention_days: int, timeout: float, tls: bool = False
) -> None:
    """Run the router under uvicorn until interrupted (HTTPS with its own certificate)."""
    import uvicorn

    app = create_router_app(folder, retention_days, timeout)
    options: dict[str, Any] = {}
    if tls:
        key, certificate = router_certificate(folder)
        options = {"ssl_keyfile": str(key), "ssl_certfile": str(certificate)}
    uvicorn.run(app, host=host, port=port, log_level="warning", **options)


def main(argv: list[str] | None = None) -> None:
    """`python -m facetrail.interfaces.api.message_router --home H --port P`."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--retention-days", type=int, default=DEFAULT_RETENTION_DAYS)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--tls", action="store_true")
    options = parser.parse_args(argv)
    serve(
        options.home,
        options.host,
        options.port,
        options.retention_days,
        options.timeout,
        options.tls,
    )


if __name__ == "__main__":
    main()

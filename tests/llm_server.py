"""A local LLM server for the tests: OpenAI Chat Completions and Anthropic Messages over HTTP.

It listens on 127.0.0.1 (a free port) and answers each request with the next entry of a
script, so the real openai and anthropic SDKs can drive whole runs offline:

- a ``str`` is a completion (cut at the first stop sequence the request names, as real servers
  do); token counts are words, so tests can predict them;
- :class:`Fail` is an HTTP error in the API's own error format (429 with ``Retry-After``, 500,
  401, ...);
- :class:`Malformed` is a 200 whose body is not the API's JSON;
- a callable gets the :class:`Received` request and returns any of these.

When the script runs out, ``fallback`` answers (by default a 500 saying so). Every request is
kept in ``received`` for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fail:
    """An HTTP error response."""

    status: int = 500
    message: str = "internal server error (scripted)"
    retry_after: float | None = None


@dataclass(frozen=True)
class Malformed:
    """A 200 response whose body the SDK cannot read as the API's JSON."""

    body: bytes = b'{"this is": not json'


@dataclass(frozen=True)
class Empty:
    """A 200 response with no completion: no choices (OpenAI), no content blocks (Anthropic)."""


@dataclass(frozen=True)
class Slow:
    """Wait ``seconds`` before answering ``then`` (to make a client time out)."""

    seconds: float
    then: Any = "late"


Reply = str | Fail | Malformed | Empty | Slow | Callable[["Received"], Any]


@dataclass
class Received:
    """One request as the server saw it."""

    api: str  # "openai" | "anthropic"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)

    @property
    def prompt(self) -> str:
        """The text of every message (and the system prompt), joined."""
        parts: list[str] = []
        system = self.body.get("system")
        if isinstance(system, str):
            parts.append(system)
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [c.get("text", "") for c in content if isinstance(c, dict)]
        return "\n".join(parts)

    @property
    def stop(self) -> list[str]:
        stop = self.body.get("stop") or self.body.get("stop_sequences") or []
        return [stop] if isinstance(stop, str) else list(stop)


def _words(text: str) -> int:
    return len(text.split())


class ScriptedLLMServer:
    """Serves scripted replies in both wire formats until :meth:`close`."""

    def __init__(self, script: Iterable[Reply] = (), *, fallback: Reply | None = None) -> None:
        self.script: list[Reply] = list(script)
        self.fallback: Reply = fallback if fallback is not None else Fail(500, "script exhausted")
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ for the tests
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_base_url(self) -> str:
        """What to give the openai client (it appends /chat/completions)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """What to give the anthropic client (it appends /v1/messages itself)."""
        return self.url

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedLLMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ serving
    def _next(self, request: Received) -> Any:
        with self._lock:
            self.received.append(request)
            reply: Any = self.script.pop(0) if self.script else self.fallback
        while callable(reply) and not isinstance(reply, Fail | Malformed | Slow):
            reply = reply(request)
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/").endswith("/chat/completions"):
                    api = "openai"
                elif self.path.rstrip("/").endswith("/messages"):
                    api = "anthropic"
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    self._send(400, {"error": {"message": "request body is not JSON"}})
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                if not (
                    headers.get("authorization", "").startswith("Bearer ")
                    or headers.get("x-api-key")
                ):
                    self._error(api, Fail(401, "no API key"))
                    return
                request = Received(api, self.path, headers, body)
                reply = server._next(request)
                while isinstance(reply, Slow):
                    time.sleep(reply.seconds)
                    reply = reply.then
                if isinstance(reply, Fail):
                    self._error(api, reply)
                elif isinstance(reply, Malformed):
                    self._send_raw(200, reply.body)
                elif isinstance(reply, Empty):
                    self._answer(request, "", empty=True)
                else:
                    self._answer(request, str(reply))

            def _answer(self, request: Received, text: str, empty: bool = False) -> None:
                stopped_by = None
                hits = [(text.find(s), s) for s in request.stop if s and s in text]
                if hits:
                    at, stopped_by = min(hits)
                    text = text[:at]
                p, c = _words(request.prompt), _words(text)
                model = request.body.get("model", "unknown")
                if request.api == "openai":
                    self._send(
                        200,
                        {
                            "id": f"chatcmpl-{len(server.received)}",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": model,
                            "choices": []
                            if empty
                            else [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": p,
                                "completion_tokens": c,
                                "total_tokens": p + c,
                            },
                        },
                    )
                else:
                    self._send(
                        200,
                        {
                            "id": f"msg_{len(server.received)}",
                            "type": "message",
                            "role": "assistant",
                            "model": model,
                            "content": [] if empty else [{"type": "text", "text": text}],
                            "stop_reason": "stop_sequence" if stopped_by else "end_turn",
                            "stop_sequence": stopped_by,
                            "usage": {"input_tokens": p, "output_tokens": c},
                        },
                    )

            def _error(self, api: str, fail: Fail) -> None:
                extra = {}
                if fail.retry_after is not None:
                    extra["Retry-After"] = f"{fail.retry_after:g}"
                if api == "openai":
                    body: dict[str, Any] = {
                        "error": {"message": fail.message, "type": "server_error", "code": None}
                    }
                else:
                    kind = {429: "rate_limit_error", 401: "authentication_error"}.get(
                        fail.status, "api_error"
                    )
                    body = {"type": "error", "error": {"type": kind, "message": fail.message}}
                self._send(fail.status, body, extra)

            def _send(
                self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                self._send_raw(status, json.dumps(body).encode(), headers)

            def _send_raw(
                self, status: int, data: bytes, headers: dict[str, str] | None = None
            ) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a time-out the test asked for)

        return Handler

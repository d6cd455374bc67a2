"""A real local HTTP server that speaks enough of the OpenAI API for tests and benchmarks.

Clients (the ``openai`` SDK, LlamaIndex) talk to it over real sockets, so their retries, timeouts and streaming run
for real; only the model is fake. Embeddings are a hashed bag of words, so they are deterministic and texts sharing
words are similar. Standard library only; numpy is used when importable, to keep answering cheap under benchmarks.

    with FakeOpenAI() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test")
        fake.fail_next(status=429, retry_after=0.3)

Command line (serves until interrupted; prints the base URL on stdout):

    python -m tests.fakes.openai_server --port 8765 [--delay 0.2] [--dimensions 64]
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import itertools
import json
import math
import re
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

try:
    import numpy as _np
except ImportError:  # pragma: no cover - the server must also run on a bare interpreter
    _np = None

__all__ = ["FakeOpenAI", "RecordedRequest", "default_reply", "fake_embedding", "main"]

HOST = "127.0.0.1"
DEFAULT_MODELS = ("gpt-4o-mini", "text-embedding-3-small")
ENDPOINTS = ("embeddings", "chat", "models")

_WORD = re.compile(r"\w+")
# Whitespace is kept with the word after it, and trailing whitespace stands alone, so the pieces of a streamed reply
# concatenate to exactly the reply.
_STREAM_PIECE = re.compile(r"\s*\S+|\s+")
_GARBAGE = b'{"object": "list", "data": [this is not json'


# ---------------------------------------------------------------------------------------------------------------------
# Embeddings


@functools.lru_cache(maxsize=1 << 17)
def _token_hash(token: str) -> int:
    # blake2b rather than hash(): Python salts str hashes per process, and vectors must agree across processes.
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest(), "little")


def _uniform_unit(dimensions: int) -> list[float]:
    value = struct.unpack("<f", struct.pack("<f", 1.0 / math.sqrt(dimensions)))[0]
    return [value] * dimensions


def _to_float32(values: list[float]) -> list[float]:
    # Rounding to float32 once, here, makes the float and base64 encodings and fake_embedding() agree bit for bit.
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _bag_of_words(tokens: list[str], dimensions: int) -> Any:
    """The embedding as float32 values: a numpy array when numpy is importable, else a list of floats."""
    if _np is not None:
        if tokens:
            hashes = _np.fromiter(map(_token_hash, tokens), dtype=_np.uint64, count=len(tokens))
            buckets = (hashes % _np.uint64(dimensions)).astype(_np.intp)
            signs = _np.where(hashes >> _np.uint64(63), -1.0, 1.0)
            counts = _np.bincount(buckets, weights=signs, minlength=dimensions)
            # Counts are small integers, so this dot product is exact whatever order BLAS sums in; the pure-Python
            # path below therefore produces the same bits.
            squared = float(counts @ counts)
            if squared:
                return (counts / math.sqrt(squared)).astype("<f4")
        return _np.full(dimensions, 1.0 / math.sqrt(dimensions), dtype="<f4")
    counts = [0] * dimensions
    for token in tokens:
        h = _token_hash(token)
        counts[h % dimensions] += -1 if h >> 63 else 1
    squared = sum(c * c for c in counts)
    if not squared:
        return _uniform_unit(dimensions)
    norm = math.sqrt(squared)
    return _to_float32([c / norm for c in counts])


def _shorten(vector: Any, dimensions: int) -> Any:
    """Truncate and re-normalise, as the OpenAI API does for the ``dimensions`` request parameter."""
    head = [float(v) for v in vector[:dimensions]]
    # fsum is exactly rounded, so numpy and pure Python agree here too.
    squared = math.fsum(v * v for v in head)
    if not squared:
        values = _uniform_unit(dimensions)
    else:
        norm = math.sqrt(squared)
        values = _to_float32([v / norm for v in head])
    return _np.asarray(values, dtype="<f4") if _np is not None else values


def fake_embedding(text: str, dimensions: int, *, shorten_to: int | None = None) -> list[float]:
    """The vector the server returns for ``text`` at ``dimensions`` wide (float32 values, L2-normalised).

    ``shorten_to`` is the request's ``dimensions`` parameter: the first ``shorten_to`` values, re-normalised.
    """
    vector = _bag_of_words(_words(text), dimensions)
    if shorten_to is not None and shorten_to != dimensions:
        vector = _shorten(vector, shorten_to)
    return [float(v) for v in vector]


def _encode_base64(vector: Any) -> str:
    if _np is not None:
        raw = _np.asarray(vector, dtype="<f4").tobytes()
    else:
        raw = struct.pack(f"<{len(vector)}f", *vector)
    return base64.b64encode(raw).decode("ascii")


def _embedding_input_texts(value: Any) -> list[str] | None:
    """The texts to embed, or None when ``input`` has a shape the API rejects."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return [str(value)]  # one list of token ids
        texts = []
        for item in value:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, list) and all(isinstance(v, int) for v in item):
                texts.append(str(item))
            else:
                return None
        return texts
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Chat


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def default_reply(messages: list[dict]) -> str:
    """A deterministic answer: cites [1] and quotes the first 12 words of the last user message."""
    question = next((_message_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    return "Based on the context [1]: " + " ".join(question.split()[:12])


def _count_tokens(text: str) -> int:
    return len(_WORD.findall(text))


# ---------------------------------------------------------------------------------------------------------------------
# Recording and faults


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any  # parsed JSON, or None when the body was empty or not JSON
    headers: dict[str, str]  # names lowercased
    timestamp: float  # time.monotonic() on arrival, to compare with the test's own clock
    endpoint: str | None  # "embeddings", "chat", "models", or None for anything else


@dataclass
class _Fault:
    kind: str  # "fail", "garbage", "answer", "hang", "disconnect"
    remaining: int | None  # None: never used up
    endpoint: str | None
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    containing: str | None = None  # only requests whose raw body contains this text
    body: Any = None  # "answer": the JSON sent instead of the real answer

    def matches(self, endpoint: str | None, body: str) -> bool:
        return (self.endpoint is None or self.endpoint == endpoint) and (
            self.containing is None or self.containing in body
        )


def _check_endpoint(endpoint: str | None) -> str | None:
    if endpoint is not None and endpoint not in ENDPOINTS:
        raise ValueError(f"endpoint must be one of {ENDPOINTS} or None, not {endpoint!r}")
    return endpoint


_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", None),
    404: ("invalid_request_error", None),
    408: ("timeout", None),
    409: ("conflict", None),
    429: ("requests", "rate_limit_exceeded"),
}


def _error_body(status: int, message: str, code: str | None = None, param: str | None = None) -> bytes:
    error_type, default_code = _ERROR_TYPES.get(status, ("server_error" if status >= 500 else "api_error", None))
    error = {"message": message, "type": error_type, "param": param, "code": code or default_code}
    return json.dumps({"error": error}).encode()


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------------------------------
# HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Hung handlers must not hold up shutdown.
    block_on_close = False
    # The default backlog of 5 makes concurrent benchmark clients wait for SYN retransmits.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], fake: FakeOpenAI) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall for seconds in some sandboxes.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up are part of the tests; their broken pipes are not errors.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeOpenAI/1.0"
    sys_version = ""
    # Headers and body go out in one write, and SSE events must leave at once: Nagle would only add latency.
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        try:
            self.server.fake._respond(self)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('Unknown',))[0]}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            f"x-request-id: req_{uuid.uuid4().hex}",
        ]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def send_error_json(self, status: int, message: str, code: str | None = None, **headers: str) -> None:
        self.send(status, _error_body(status, message, code), headers=headers.items())

    def start_chunked(self, content_type: str) -> None:
        lines = [
            "HTTP/1.1 200 OK",
            f"Content-Type: {content_type}",
            "Transfer-Encoding: chunked",
            "Cache-Control: no-cache",
            f"x-request-id: req_{uuid.uuid4().hex}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))

    def write_chunk(self, data: bytes) -> None:
        # wfile is unbuffered (wbufsize 0), so each chunk is on the wire when this returns.
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")


def _endpoint_of(method: str, path: str) -> str | None:
    path = path.rstrip("/")
    if method == "POST" and path == "/v1/embeddings":
        return "embeddings"
    if method == "POST" and path == "/v1/chat/completions":
        return "chat"
    if method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
        return "models"
    return None


# ---------------------------------------------------------------------------------------------------------------------
# The fake


class FakeOpenAI:
    """A local OpenAI API on 127.0.0.1, started and stopped as a context manager.

    ``delay``, ``token_delay``, ``reply`` and ``api_key`` are plain attributes and may be changed while it runs.
    ``max_recorded`` bounds the request log (oldest dropped; 0 records nothing) for long benchmark runs.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        dimensions: int = 64,
        model_dimensions: dict[str, int] | None = None,
        delay: float = 0.0,
        token_delay: float = 0.0,
        reply: Callable[[list[dict]], str] | None = None,
        api_key: str | None = None,
        max_recorded: int | None = None,
    ) -> None:
        self.port = port
        self.dimensions = dimensions
        self.model_dimensions = dict(model_dimensions or {})
        self.delay = delay
        self.token_delay = token_delay
        self.reply = reply
        self.api_key = api_key
        self._lock = threading.Lock()
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._record = max_recorded != 0
        self._faults: list[_Fault] = []
        self._standing: list[_Fault] = []
        self._models: dict[str, None] = dict.fromkeys(DEFAULT_MODELS)
        self._ids = itertools.count(1)
        # Set on stop, so sleeping handlers (delay, hang, token_delay) wake up instead of outliving the server.
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def _bind(self) -> _Server:
        if self._server is not None:
            raise RuntimeError("FakeOpenAI is already running")
        self._stopping.clear()
        self._server = _Server((HOST, self.port), self)
        self.port = self._server.server_address[1]
        return self._server

    def start(self) -> FakeOpenAI:
        server = self._bind()
        # A short poll interval keeps shutdown() quick; tests start and stop many servers.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        # Idle keep-alive connections would otherwise keep their handler threads blocked in readline.
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve in the calling thread until interrupted (the command line); ``ready`` gets the base URL once bound."""
        server = self._bind()
        try:
            if ready is not None:
                ready(self.base_url)
            server.serve_forever()
        finally:
            self._server = None
            self._stopping.set()
            server.server_close()
            server.close_connections()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeOpenAI has not been started")
        return f"http://{HOST}:{self.port}/v1"

    # -- recorded requests

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == "embeddings"]

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == "chat"]

    @property
    def models(self) -> list[str]:
        with self._lock:
            return list(self._models)

    def reset(self) -> None:
        """Forget recorded requests and scripted faults."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._standing.clear()

    # -- scripted faults: each matching request uses up one; ``endpoint`` is "embeddings", "chat", "models" or None,
    # and ``containing`` limits a fault to requests whose raw body holds that text (one document of a batch, say).

    def fail_next(
        self,
        count: int = 1,
        status: int = 429,
        retry_after: float | None = None,
        endpoint: str | None = None,
        containing: str | None = None,
    ) -> None:
        """Answer with ``status`` and an OpenAI error body, with Retry-After and retry-after-ms when given."""
        self._add(
            _Fault(
                "fail", count, _check_endpoint(endpoint), status=status, retry_after=retry_after, containing=containing
            )
        )

    def garbage_next(self, count: int = 1, endpoint: str | None = None, containing: str | None = None) -> None:
        """Answer 200 application/json with a body that is not JSON."""
        self._add(_Fault("garbage", count, _check_endpoint(endpoint), containing=containing))

    def answer_next(self, body: Any, count: int = 1, endpoint: str | None = None) -> None:
        """Answer 200 with this JSON instead of the real answer (a server that bends the protocol)."""
        self._add(_Fault("answer", count, _check_endpoint(endpoint), body=body))

    def hang_next(
        self, count: int = 1, seconds: float = 30, endpoint: str | None = None, containing: str | None = None
    ) -> None:
        """Wait ``seconds`` (or until the server stops), then answer normally."""
        self._add(_Fault("hang", count, _check_endpoint(endpoint), seconds=seconds, containing=containing))

    def disconnect_next(self, count: int = 1, endpoint: str | None = None, containing: str | None = None) -> None:
        """Close the connection without answering."""
        self._add(_Fault("disconnect", count, _check_endpoint(endpoint), containing=containing))

    def fail_always(
        self,
        status: int = 500,
        endpoint: str | None = None,
        retry_after: float | None = None,
        containing: str | None = None,
    ) -> None:
        """Fail every matching request until clear_faults(); one-off faults scripted with *_next() still go first."""
        self._add(
            _Fault(
                "fail", None, _check_endpoint(endpoint), status=status, retry_after=retry_after, containing=containing
            )
        )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._standing.clear()

    def _add(self, fault: _Fault) -> None:
        if fault.remaining is not None and fault.remaining < 1:
            return
        with self._lock:
            (self._faults if fault.remaining is not None else self._standing).append(fault)

    def _take_fault(self, endpoint: str | None, body: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(endpoint, body):
                    fault.remaining -= 1  # type: ignore[operator]
                    if not fault.remaining:
                        self._faults.remove(fault)
                    return fault
            for fault in self._standing:
                if fault.matches(endpoint, body):
                    return fault
        return None

    # -- answering

    def _respond(self, handler: _Handler) -> None:
        method = handler.command
        path = handler.path.split("?", 1)[0]
        endpoint = _endpoint_of(method, path)
        raw = handler.read_body()
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        if self._record:
            record = RecordedRequest(
                method=method,
                path=handler.path,
                body=body,
                headers={k.lower(): v for k, v in handler.headers.items()},
                timestamp=time.monotonic(),
                endpoint=endpoint,
            )
            with self._lock:
                self._requests.append(record)
        if isinstance(body, dict) and isinstance(body.get("model"), str):
            with self._lock:
                self._models.setdefault(body["model"], None)

        if self.delay > 0 and self._stopping.wait(self.delay):
            handler.close_connection = True
            return

        if self.api_key is not None and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
            handler.send_error_json(401, "Incorrect API key provided.", "invalid_api_key")
            return

        fault = self._take_fault(endpoint, raw.decode("utf-8", "replace") if raw else "")
        if fault is not None:
            if fault.kind == "fail":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = f"{fault.retry_after:g}"
                    headers["retry-after-ms"] = str(round(fault.retry_after * 1000))
                handler.send_error_json(fault.status, f"Scripted failure with status {fault.status}.", **headers)
                return
            if fault.kind == "garbage":
                handler.send(200, _GARBAGE)
                return
            if fault.kind == "answer":
                handler.send(200, _dumps(fault.body))
                return
            if fault.kind == "disconnect":
                handler.close_connection = True
                return
            if fault.kind == "hang" and self._stopping.wait(fault.seconds):
                handler.close_connection = True
                return

        if bad_json:
            handler.send_error_json(400, "We could not parse the JSON body of your request.")
            return
        try:
            if endpoint == "embeddings":
                self._embeddings(handler, body)
            elif endpoint == "chat":
                self._chat(handler, body)
            elif endpoint == "models":
                self._list_models(handler, path)
            else:
                handler.send_error_json(404, f"Invalid URL ({method} {path})")
        except OSError:
            raise
        except Exception as exc:  # a bug here, or in a test's reply(), should fail the request, not hang the client
            traceback.print_exc(file=sys.stderr)
            handler.send_error_json(500, f"Fake server error: {exc!r}")

    def _embeddings(self, handler: _Handler, body: Any) -> None:
        if not isinstance(body, dict):
            handler.send_error_json(400, "The request body must be a JSON object.")
            return
        texts = _embedding_input_texts(body.get("input"))
        if texts is None:
            handler.send_error_json(400, "'input' must be a string, a list of strings or a list of token lists.")
            return
        model = str(body.get("model") or "text-embedding-3-small")
        native = self.model_dimensions.get(model, self.dimensions)
        wanted = body.get("dimensions")
        if wanted is not None and (not isinstance(wanted, int) or not 1 <= wanted <= native):
            handler.send_error_json(400, f"'dimensions' must be an integer from 1 to {native} for {model}.")
            return
        encoding = body.get("encoding_format") or "float"
        if encoding not in ("float", "base64"):
            handler.send_error_json(400, "'encoding_format' must be 'float' or 'base64'.")
            return
        data = []
        tokens = 0
        for index, text in enumerate(texts):
            words = _words(text)
            vector = _bag_of_words(words, native)
            if wanted is not None and wanted != native:
                vector = _shorten(vector, wanted)
            if encoding == "base64":
                encoded: Any = _encode_base64(vector)
            else:
                encoded = vector.tolist() if _np is not None else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
            tokens += len(words)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        handler.send(200, _dumps({"object": "list", "data": data, "model": model, "usage": usage}))

    def _chat(self, handler: _Handler, body: Any) -> None:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
            handler.send_error_json(400, "'messages' must be a non-empty list.")
            return
        messages = body["messages"]
        model = str(body.get("model") or DEFAULT_MODELS[0])
        text = (self.reply or default_reply)(messages)
        prompt_tokens = sum(_count_tokens(_message_text(m.get("content"))) for m in messages if isinstance(m, dict))
        completion_tokens = _count_tokens(text)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        completion_id = f"chatcmpl-fake{next(self._ids):010d}"
        created = int(time.time())
        if not body.get("stream"):
            message = {"role": "assistant", "content": text, "refusal": None}
            completion = {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
                "usage": usage,
                "system_fingerprint": None,
            }
            handler.send(200, _dumps(completion))
            return

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
        tail = {"system_fingerprint": None, **({"usage": None} if include_usage else {})}

        def event(delta: dict, finish_reason: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            return b"data: " + _dumps({**head, "choices": [choice], **tail}) + b"\n\n"

        handler.start_chunked("text/event-stream; charset=utf-8")
        handler.write_chunk(event({"role": "assistant", "content": "", "refusal": None}, None))
        for piece in _STREAM_PIECE.findall(text):
            if self.token_delay > 0 and self._stopping.wait(self.token_delay):
                handler.close_connection = True
                return
            handler.write_chunk(event({"content": piece}, None))
        handler.write_chunk(event({}, "stop"))
        if include_usage:
            handler.write_chunk(b"data: " + _dumps({**head, "choices": [], **tail, "usage": usage}) + b"\n\n")
        handler.write_chunk(b"data: [DONE]\n\n")
        handler.end_chunked()

    def _list_models(self, handler: _Handler, path: str) -> None:
        def model_object(name: str) -> dict:
            return {"id": name, "object": "model", "created": 0, "owned_by": "fake-openai"}

        name = path.rstrip("/").removeprefix("/v1/models").lstrip("/")
        if name:
            handler.send(200, _dumps(model_object(name)))
            return
        handler.send(200, _dumps({"object": "list", "data": [model_object(m) for m in self.models]}))


# ---------------------------------------------------------------------------------------------------------------------
# Command line


def _model_dimension(value: str) -> tuple[str, int]:
    name, sep, width = value.rpartition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected MODEL=DIMENSIONS, got {value!r}")
    return name, int(width)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI API on 127.0.0.1, for benchmarks and load tests.")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (default: %(default)s)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed tokens")
    parser.add_argument("--dimensions", type=int, default=64, help="embedding width (default: %(default)s)")
    parser.add_argument(
        "--model-dimensions", type=_model_dimension, action="append", default=[], metavar="MODEL=N",
        help="embedding width for one model; repeatable",
    )  # fmt: skip
    parser.add_argument("--api-key", default=None, help="require this bearer token")
    args = parser.parse_args(argv)

    fake = FakeOpenAI(
        port=args.port,
        dimensions=args.dimensions,
        model_dimensions=dict(args.model_dimensions),
        delay=args.delay,
        token_delay=args.token_delay,
        api_key=args.api_key,
        # Nobody reads the log of a standalone server; keeping it would only grow memory under load.
        max_recorded=0,
    )
    # SIGTERM (from a benchmark harness) should close the socket like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    try:
        fake.serve_forever(ready=lambda url: print(url, flush=True))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

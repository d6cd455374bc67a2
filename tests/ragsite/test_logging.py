"""Request logs: one line per request with its id, method, path, status, duration and key prefix; nothing more."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from documents.services.ingest import document_ingest
from ragsite.log import JsonFormatter, KeyValueFormatter, PayloadFreeFilter, RequestIdFilter, kv_value
from ragsite.middleware import RequestLogMiddleware
from tests.live import BASE_DIR, service_env

pytestmark = pytest.mark.django_db

_LINE = re.compile(
    r"^ts=\S+Z level=INFO logger=ragsite.access request_id=(?P<request_id>\S+) event=request "
    r"method=(?P<method>\S+) path=(?P<path>.+) status=(?P<status>\d{3}) duration_ms=(?P<duration_ms>\d+\.\d) "
    r"api_key=(?P<api_key>\S+)$"
)


@pytest.fixture
def log_output():
    """What the service's console handler writes (as configured by settings.LOGGING), one string per line."""
    handler = next(handler for handler in logging.getLogger().handlers if handler.get_name() == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        yield lambda: stream.getvalue().splitlines()
    finally:
        handler.setStream(previous)


def access_lines(lines: list[str]) -> list[dict[str, str]]:
    return [match.groupdict() for line in lines if (match := _LINE.match(line))]


def test_each_request_writes_exactly_one_line_with_its_fields(api_client, log_output):
    response = api_client.get("/vaults", HTTP_X_REQUEST_ID="req-42")

    assert response.status_code == 200
    assert [line for line in log_output() if "logger=ragsite.access" in line] == log_output()
    (line,) = access_lines(log_output())
    assert line["request_id"] == "req-42"
    assert (line["method"], line["path"], line["status"], line["api_key"]) == ("GET", "/vaults", "200", "-")
    assert float(line["duration_ms"]) > 0


def test_an_error_is_logged_with_the_status_the_client_got(api_client, log_output):
    response = api_client.put("/health")  # Django's own 405, turned into the envelope by the middleware

    assert response.status_code == 405
    (line,) = access_lines(log_output())
    assert (line["method"], line["path"], line["status"]) == ("PUT", "/health", "405")
    assert line["request_id"] == response["X-Request-ID"]


def test_the_query_string_is_never_logged(api_client, log_output):
    api_client.get("/documents", {"q": "confidential-merger-plans", "limit": "5"})

    (line,) = access_lines(log_output())
    assert line["path"] == "/documents"
    assert "confidential-merger-plans" not in "\n".join(log_output())


def test_a_path_with_spaces_quotes_and_newlines_stays_one_quoted_field(api_client, log_output):
    api_client.get("/no%20such%20%22path%22%0Alevel=ERROR%20forged=1")

    (line,) = log_output()
    fields = access_lines([line])[0]
    assert json.loads(fields["path"]) == '/no such "path"\nlevel=ERROR forged=1'
    assert fields["status"] == "404"


def test_the_api_key_prefix_set_by_authentication_is_logged():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger("ragsite.access")
    logger.addHandler(handler)

    def authenticated_view(request):
        request.api_key_prefix = "rk_3f9a1c"  # what API key authentication leaves on the request
        return HttpResponse(status=204)

    try:
        RequestLogMiddleware(authenticated_view)(RequestFactory().post("/ingest"))
    finally:
        logger.removeHandler(handler)
    (line,) = access_lines(stream.getvalue().splitlines())
    assert (line["method"], line["path"], line["status"], line["api_key"]) == ("POST", "/ingest", "204", "rk_3f9a1c")


def test_a_stream_is_logged_once_when_it_has_been_sent(api_client, openai_settings, log_output):
    document_ingest(text="Employees get 25 days of paid leave per year.", title="Leave")
    response = api_client.post("/chat", {"message": "How much leave?", "stream": True}, format="json")

    assert access_lines(log_output()) == []  # the answer has not gone out yet
    body = b"".join(response.streaming_content).decode()
    response.close()

    assert '"type": "done"' in body
    (line,) = access_lines(log_output())
    assert (line["method"], line["path"], line["status"]) == ("POST", "/chat", "200")


def test_exceptions_are_logged_with_their_type_and_stack_but_not_their_message(log_output):
    document = "".join(["the whole ", "confidential ", "document"])  # so the source line shown does not hold it
    try:
        raise ValueError(document)
    except ValueError:
        logging.getLogger("ragsite.test").exception("event=something_failed")

    output = "\n".join(log_output())
    assert "event=something_failed" in output
    assert "ValueError: (message withheld)" in output
    assert "test_exceptions_are_logged_with_their_type_and_stack" in output  # the frames are there
    assert "confidential" not in output


def test_debug_lines_of_libraries_are_dropped_and_ours_kept():
    def record(name: str, level: int) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, "SELECT %s", ("the document text",), None)

    keep = PayloadFreeFilter().filter
    assert not keep(record("django.db.backends", logging.DEBUG))
    assert not keep(record("openai._base_client", logging.DEBUG))
    assert not keep(record("httpcore.http11", logging.DEBUG))
    assert not keep(record("llama_index.core.chat_engine", logging.DEBUG))
    assert keep(record("documents.services.embeddings", logging.DEBUG))
    assert keep(record("django.db.backends", logging.WARNING))


def test_the_json_format_has_one_object_per_line_with_the_same_fields():
    record = logging.LogRecord("ragsite.access", logging.INFO, __file__, 1, "event=request", None, None)
    record.__dict__.update({"request_id": "req-7", "method": "GET", "path": "/health", "status": 200})

    line = JsonFormatter().format(record)

    assert "\n" not in line
    body = json.loads(line)
    assert body["level"] == "INFO"
    assert body["logger"] == "ragsite.access"
    assert body["message"] == "event=request"
    assert body["event"] == "request"  # the message's pairs are fields too, as on a key=value line
    assert (body["request_id"], body["method"], body["path"], body["status"]) == ("req-7", "GET", "/health", 200)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["ts"])  # as the key=value lines write it


def test_a_json_line_takes_quoted_pairs_apart_and_never_lets_them_replace_a_field():
    message = f"event=upload name={kv_value('my file.pdf')} request_id=forged event=forged"
    record = logging.LogRecord("ragsite", logging.INFO, __file__, 1, message, None, None)
    record.request_id = "req-8"

    body = json.loads(JsonFormatter().format(record))

    assert (body["event"], body["name"], body["request_id"]) == ("upload", "my file.pdf", "req-8")


def test_a_logged_value_cannot_add_a_json_field():
    record = logging.LogRecord("ragsite", logging.INFO, __file__, 1, "event=login user=%s", ("eve admin=true",), None)

    body = json.loads(JsonFormatter().format(record))

    assert (body["event"], body["user"]) == ("login", "eve")
    assert "admin" not in body


@pytest.mark.parametrize("message", ["Watching for file changes", 'event=x broken="unterminated', 'a=b"c'])
def test_a_message_that_is_not_all_pairs_stays_a_plain_message(message):
    record = logging.LogRecord("ragsite", logging.INFO, __file__, 1, message, None, None)

    body = json.loads(JsonFormatter().format(record))

    assert body["message"] == message
    assert set(body) == {"ts", "level", "logger", "request_id", "message"}


_MIGRATE_THEN_SERVE = """
import django
from django.core.management import call_command
from django.test import Client

django.setup()
call_command("migrate", "--noinput", verbosity=0)
Client().get("/vaults", HTTP_X_REQUEST_ID="after-migrate")
"""


@pytest.mark.slow
def test_logging_works_after_migrations_ran_in_the_same_process(tmp_path: Path):
    """As in a container that migrates at start-up and then serves: the request's line is still written, as JSON."""
    import subprocess

    env = service_env(
        DATA_DIR=str(tmp_path), LOG_FORMAT="json", LOG_LEVEL="INFO", DJANGO_SETTINGS_MODULE="ragsite.settings"
    )
    result = subprocess.run(
        [sys.executable, "-c", _MIGRATE_THEN_SERVE], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=180
    )

    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("message") == "event=request"]
    assert len(requests) == 1, result.stderr
    assert requests[0]["request_id"] == "after-migrate"
    assert (requests[0]["method"], requests[0]["path"], requests[0]["status"]) == ("GET", "/vaults", 200)

"""Credentials, retries and error responses, against a small HTTP server on 127.0.0.1.

The stand-in server plays back scripted responses and records each request's
headers, which a real Prometheus cannot show.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from perfreport.errors import RemoteError
from perfreport.ingest.prometheus import query_range

MATRIX = {
    "status": "success",
    "data": {
        "resultType": "matrix",
        "result": [{"metric": {"job": "api"}, "values": [[1767607200, "1"]]}],
    },
}
BAD_DATA = {"status": "error", "errorType": "bad_data", "error": "parse error"}
START = datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)
END = datetime(2026, 1, 5, 10, 5, tzinfo=timezone.utc)


class _Scripted(ThreadingHTTPServer):
    """A server that returns the queued (status, body) pairs in order, then the last."""

    def __init__(self, script: list[tuple[int, object]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.requests: list[dict] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Scripted

    def do_GET(self) -> None:
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers.items())}
        )
        status, body = self.server.script[
            min(len(self.server.requests), len(self.server.script)) - 1
        ]
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted() -> Iterator:
    servers: list[_Scripted] = []

    def start(*script: tuple[int, object]) -> _Scripted:
        server = _Scripted(list(script))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _url(server: _Scripted, userinfo: str = "") -> str:
    host, port = server.server_address[:2]
    return f"http://{userinfo}{host}:{port}"


def test_bearer_token_sent_never_logged(scripted, caplog):
    server = scripted((200, MATRIX))
    env = {"PERFREPORT_PROMETHEUS_TOKEN": "s3cret-token"}
    with caplog.at_level(logging.DEBUG):
        result = query_range(_url(server), {"up": "up"}, START, END, 15, environ=env)

    assert server.requests[0]["headers"]["Authorization"] == "Bearer s3cret-token"
    assert "s3cret-token" not in caplog.text
    assert result.frame["value"].tolist() == [1.0]


def test_basic_auth_from_env(scripted):
    server = scripted((200, MATRIX))
    env = {"PERFREPORT_PROMETHEUS_USER": "ops", "PERFREPORT_PROMETHEUS_PASSWORD": "pw"}
    query_range(_url(server), {"up": "up"}, START, END, 15, environ=env)

    expected = "Basic " + base64.b64encode(b"ops:pw").decode()
    assert server.requests[0]["headers"]["Authorization"] == expected


def test_times_and_step_sent_as_seconds(scripted):
    server = scripted((200, MATRIX))
    query_range(_url(server), {"up": "up"}, START, END, 0.5, environ={})

    params = parse_qs(urlsplit(server.requests[0]["path"]).query)
    assert params["start"] == [str(int(START.timestamp()))]
    assert params["end"] == [str(int(END.timestamp()))]
    assert params["step"] == ["0.5"]
    assert params["query"] == ["up"]


def test_unavailable_server_is_retried(scripted):
    server = scripted((503, "busy"), (503, "busy"), (200, MATRIX))
    result = query_range(
        _url(server), {"up": "up"}, START, END, 15, retries=3, environ={}
    )

    assert len(server.requests) == 3
    assert len(result.frame) == 1


def test_server_warnings_become_warnings(scripted):
    server = scripted((200, {**MATRIX, "warnings": ["partial result"]}))
    result = query_range(_url(server), {"up": "up"}, START, END, 15, environ={})

    assert [w.code for w in result.warnings] == ["prometheus-warning"]
    assert result.warnings[0].message == "up: Prometheus warned: partial result"


def test_quantile_inf_flagged_as_lower_bound(scripted):
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": {}, "values": [[1767607200, "+Inf"]]}],
        },
    }
    server = scripted((200, body))
    promql = "histogram_quantile(0.99, sum by (le) (rate(latency_bucket[1m])))"
    result = query_range(_url(server), {"p99": promql}, START, END, 15, environ={})

    assert result.frame["infinite"].tolist() == [True]
    assert result.warnings[0].message == (
        "p99: 1 point(s) are +Inf or -Inf (the quantile lies in the +Inf bucket, "
        "so it is at least the largest finite bucket bound, not a measured "
        "value); they are flagged and left out of averages"
    )


def test_error_response_raises_with_error_type(scripted):
    server = scripted((400, BAD_DATA))
    url = _url(server, "ops:hunter2@")
    with pytest.raises(RemoteError) as raised:
        query_range(url, {"bad": "sum("}, START, END, 15, environ={})

    message = str(raised.value)
    assert message == (
        f"{_url(server)}/api/v1/query_range: HTTP 400, Prometheus returned "
        "bad_data: parse error"
    )
    assert "hunter2" not in message
    expected = "Basic " + base64.b64encode(b"ops:hunter2").decode()
    assert server.requests[0]["headers"]["Authorization"] == expected


def test_retries_are_bounded(scripted):
    server = scripted((503, "busy"))
    with pytest.raises(RemoteError, match="HTTP 503, the body is not JSON"):
        query_range(_url(server), {"up": "up"}, START, END, 15, retries=2, environ={})
    assert len(server.requests) == 3

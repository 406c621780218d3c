"""HTTP access to the Prometheus API: credentials, retries and response status.

:mod:`perfreport.ingest.prometheus` builds on these helpers. Credentials come
only from the environment or the URL and never appear in messages or logs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from perfreport.errors import RemoteError
from perfreport.ingest.nesting import loads

logger = logging.getLogger(__name__)

TOKEN_ENV = "PERFREPORT_PROMETHEUS_TOKEN"
USER_ENV = "PERFREPORT_PROMETHEUS_USER"
PASSWORD_ENV = "PERFREPORT_PROMETHEUS_PASSWORD"


def format_seconds(seconds: float) -> str:
    """Format seconds as Prometheus accepts them: ``15``, ``0.5``, no exponent."""
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def redact_url(url: str) -> str:
    """Return ``url`` without user, password, query string or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def credentials_from_env(
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], tuple[str, str] | None]:
    """Return (headers, basic auth) from the ``PERFREPORT_PROMETHEUS_*`` variables.

    ``PERFREPORT_PROMETHEUS_TOKEN`` gives a bearer token and wins over
    ``PERFREPORT_PROMETHEUS_USER``/``PERFREPORT_PROMETHEUS_PASSWORD``.
    """
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "")
    if token:
        return {"Authorization": f"Bearer {token}"}, None
    user = env.get(USER_ENV, "")
    if user:
        return {}, (user, env.get(PASSWORD_ENV, ""))
    return {}, None


def check_status(payload: Any, where: str) -> Mapping[str, Any]:
    """Return the ``data`` member of a success response; raise ValueError else."""
    if not isinstance(payload, dict) or "status" not in payload:
        raise ValueError("not a Prometheus API response (no 'status' member)")
    if payload["status"] == "error":
        raise PrometheusAPIError(
            str(payload.get("errorType", "unknown")), str(payload.get("error", ""))
        )
    data = payload.get("data")
    if payload["status"] != "success" or not isinstance(data, dict):
        raise ValueError(f"unexpected status {payload['status']!r} in {where}")
    return data


class PrometheusAPIError(Exception):
    """A ``{"status": "error"}`` response, before it is given a file or URL."""

    def __init__(self, error_type: str, error: str) -> None:
        super().__init__(f"Prometheus returned {error_type}: {error}")
        self.error_type = error_type
        self.error = error


def connect(
    url: str, verify_tls: bool, retries: int, environ: Mapping[str, str] | None
) -> Any:
    """Return a PrometheusConnect client with credentials and bounded retries.

    Connection errors and HTTP 408, 429 and 5xx are retried ``retries`` times,
    waiting 0, 1, 2, 4 ... seconds in between (urllib3 2.x backoff).
    """
    from prometheus_api_client import PrometheusConnect
    from urllib3.util.retry import Retry

    if not verify_tls:
        logger.warning("TLS certificate verification is off for %s", redact_url(url))

    headers, auth = credentials_from_env(environ)
    parts = urlsplit(url)
    if auth is None and not headers and parts.username:
        auth = (parts.username, parts.password or "")
    retry = Retry(
        total=retries,
        backoff_factor=0.5,
        status_forcelist=(408, 429, 500, 502, 503, 504),
        allowed_methods=("GET",),
        raise_on_status=False,
    )
    base = redact_url(url).rstrip("/")
    return PrometheusConnect(
        url=base, headers=headers, disable_ssl=not verify_tls, retry=retry, auth=auth
    )


def fetch_range(
    client: Any,
    promql: str,
    start: float,
    end: float,
    step_s: float,
    timeout_s: float,
    retries: int,
) -> Mapping[str, Any]:
    """Send one range query through the client's session; return the response."""
    import requests

    endpoint = f"{client.url}/api/v1/query_range"
    params = {
        "query": promql,
        "start": format_seconds(start),
        "end": format_seconds(end),
        "step": format_seconds(step_s),
    }
    logger.debug(
        "GET %s start=%s end=%s step=%s",
        endpoint, params["start"], params["end"], params["step"],
    )  # fmt: skip
    try:
        response = client._session.get(
            endpoint,
            params=params,
            headers=client.headers,
            auth=client.auth,
            timeout=timeout_s,
        )
    except requests.RequestException as error:
        raise RemoteError(
            f"{endpoint}: request failed after {retries} retries: "
            f"{_describe(error)}; check --url and that Prometheus is running"
        ) from None
    return _parse_http_response(response, redact_url(endpoint))


def _parse_http_response(response: Any, where: str) -> Mapping[str, Any]:
    """Return the decoded body of a success response; raise RemoteError else."""
    try:
        payload = loads(response.content)
    except ValueError:
        raise RemoteError(
            f"{where}: HTTP {response.status_code}, the body is not JSON; "
            "check that --url points at Prometheus"
        ) from None
    try:
        check_status(payload, where)
        return payload
    except PrometheusAPIError as error:
        raise RemoteError(
            f"{where}: HTTP {response.status_code}, Prometheus returned "
            f"{error.error_type}: {error.error}"
        ) from None
    except ValueError as error:
        raise RemoteError(f"{where}: HTTP {response.status_code}, {error}") from None


def _describe(error: Exception) -> str:
    """Name a requests failure by its OS error, e.g. ``Connection refused``."""
    # str(error) repeats the request's URL; only the errno text is kept from it.
    found = re.search(r"\[Errno -?\d+\] ([^'\"\)\]]+)", str(error))
    if found:
        return found.group(1).strip()
    return type(error).__name__

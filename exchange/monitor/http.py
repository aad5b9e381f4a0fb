"""The monitoring endpoint on [monitoring] host/port: /metrics (Prometheus text format, from
prometheus_client's own WSGI app), /healthz/live and /healthz/ready (200 or 503, with a JSON
body naming each check). One thread per request, so a slow database check never holds up a
scrape; requests are not logged (a scrape every few seconds would drown the log)."""
from __future__ import annotations

import concurrent.futures
import json
import logging
import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable, Iterable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from exchange.errors import ConfigError
from exchange.monitor.health import Health

log = logging.getLogger("exchange.monitor")

StartResponse = Callable[..., Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


class MonitorServer:
    """Serves `registry` and the health answers of `ready()` and `live()`."""

    def __init__(self, host: str, port: int, registry: CollectorRegistry,
                 ready: Callable[[concurrent.futures.Executor], Health],
                 live: Callable[[], bool]) -> None:
        self.host, self.port = host, port
        self._metrics = make_wsgi_app(registry)
        self._ready, self._live = ready, live
        # Database checks run here: one that hangs holds this thread, not the request's.
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="health-db")
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics(environ, start_response)
        if path == "/healthz/live":
            live = self._live()
            return _json(start_response, live, {"live": live})
        if path == "/healthz/ready":
            health = self._ready(self._pool)
            return _json(start_response, health.ready, health.as_dict())
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics, /healthz/live or /healthz/ready\n"]

    def start(self) -> None:
        server_class = _IPv6Server if ":" in self.host else _Server
        try:
            self._server = make_server(self.host, self.port, self.app, server_class=server_class,
                                       handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(f"[monitoring] host/port: cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc}") from exc
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="monitoring",
                                        kwargs={"poll_interval": 0.5}, daemon=True)
        self._thread.start()
        log.info("unit=- file=-: monitoring on http://%s:%d/metrics and /healthz/ready",
                 self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._pool.shutdown(wait=False)


def _json(start_response: StartResponse, ok: bool, body: dict[str, Any]) -> list[bytes]:
    start_response("200 OK" if ok else "503 Service Unavailable",
                   [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
    return [json.dumps(body).encode() + b"\n"]


__all__ = ["MonitorServer"]

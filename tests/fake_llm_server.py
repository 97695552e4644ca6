"""A fake OpenAI-compatible server on 127.0.0.1 for tests: counts requests and how many are in flight, answers
GET probes (``/v1/models``, ``/props``) as configured, and can answer slowly or trickle its body."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


class FakeServer:
    """``reply(body) -> dict`` makes each chat answer; ``delay`` seconds before it; ``trickle`` seconds between
    the bytes of the body (0: all at once). ``gets`` maps a path (``/v1/models``, ``/props``, ``/openapi.json``)
    to the JSON a GET of it answers (any other path: 404)."""

    def __init__(self, reply: Callable[[dict], Any] | None = None, delay: float = 0.0):
        self.reply = reply or (lambda body: {"choices": [{"message": {"content": "Paris"}, "finish_reason": "stop"}],
                                             "usage": {"prompt_tokens": 5, "completion_tokens": 1}})
        self.delay = delay
        self.trickle = 0.0
        self.gets: dict[str, Any] = {}
        self.requests: list[dict] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.busy: list[tuple[float, int]] = []    # (time, requests in flight from then on)
        self.lock = threading.Lock()

    def _enter(self, body: dict) -> None:
        with self.lock:
            self.requests.append(body)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.busy.append((time.monotonic(), self.in_flight))

    def _leave(self) -> None:
        with self.lock:
            self.in_flight -= 1
            self.busy.append((time.monotonic(), self.in_flight))

    def mean_in_flight(self) -> float:
        """Requests in flight on average, from the first arrival to the last answer."""
        area = 0.0
        for (t0, n), (t1, _) in zip(self.busy, self.busy[1:]):
            area += n * (t1 - t0)
        span = self.busy[-1][0] - self.busy[0][0]
        return area / span if span > 0 else 0.0

    def start(self) -> "FakeServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # headers and body as they are written (no 40 ms delayed-ACK stalls)

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if server.trickle and status == 200:
                    for byte in data:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(server.trickle)
                else:
                    self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's name
                found = server.gets.get(self.path)
                if found is None:
                    self._send(404, b'{"error": "not found"}')
                else:
                    self._send(200, json.dumps(found).encode())

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server._enter(body)
                try:
                    time.sleep(server.delay)
                    answer = server.reply(body)
                    data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                    self._send(200, data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    server._leave()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 64

        self.httpd = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

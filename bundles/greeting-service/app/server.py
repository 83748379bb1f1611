"""A model with its own HTTP server (stdlib only): the DOCKER_LAYERS example.

It scores a part's quality with a fixed rule and greets; the routes are those of ../openapi.json.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

THRESHOLD = float(os.environ.get("QUALITY_MAX_TEMPERATURE", "245"))


class Handler(BaseHTTPRequestHandler):
    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path == "/score":
            self._not_allowed()
        elif self.path == "/health":
            self._json(200, {"status": "ok"})
        elif self.path.startswith("/greetings/"):
            self._json(200, {"greeting": f"{os.environ.get('GREETING', 'Hello')}, {self.path.rsplit('/', 1)[1]}!"})
        else:
            self._json(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path == "/health" or self.path.startswith("/greetings/"):
            self._not_allowed()
            return
        if self.path != "/score":
            self._json(404, {"error": f"no route {self.path}"})
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
            temperature = body["temperature"]
            if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
                raise TypeError("not a number")
        except (ValueError, KeyError, TypeError):
            self._json(400, {"error": 'send {"temperature": <number>}'})
            return
        self._json(200, {"label": "OK" if temperature <= THRESHOLD else "NOK"})

    def _not_allowed(self) -> None:
        allowed = "POST" if self.path == "/score" else "GET"
        self.send_response(405)
        self.send_header("allow", allowed)
        self.send_header("content-length", "0")
        self.end_headers()

    def __getattr__(self, name: str) -> object:
        # every other method (do_PUT, do_TRACE, ...): 405 with the allowed one, not http.server's 501 page
        if name.startswith("do_"):
            return self._not_allowed
        raise AttributeError(name)


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), Handler).serve_forever()

"""A server that ignores SIGTERM, and so do its two helpers (one of which leaves the process
group): the launcher must kill all three after the stop grace.

Usage: ``python stubborn.py PORT`` (answers 200 on every GET).
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys

HELPER = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"stubborn": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c", HELPER])  # stays in the group
    subprocess.Popen([sys.executable, "-c", HELPER], start_new_session=True)  # leaves it
    print(f"stubborn server pid {os.getpid()} on port {sys.argv[1]}", flush=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()

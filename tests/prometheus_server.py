"""A real Prometheus server (Debian ``prometheus``) scraping loopback targets, for the exporter tests.

Flags and the HTTP API (``/-/ready``, ``/api/v1/query``, ``/api/v1/targets``) are from the
Prometheus documentation (prometheus.io/docs/prometheus/latest/querying/api/ and
.../management_api/), checked against the packaged 2.42.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.mqtt_broker import free_port

PROMETHEUS = shutil.which("prometheus")
MISSING_REASON = "prometheus is not installed (apt-get install -y prometheus)"


class Prometheus:
    def __init__(self, directory: Path, targets: Sequence[str], interval_s: float = 0.5) -> None:
        assert PROMETHEUS is not None, MISSING_REASON
        self.port = free_port()
        self.directory = directory
        self.config = directory / "prometheus.yml"
        listed = ", ".join(f"'{t}'" for t in targets)
        every = f"{int(interval_s * 1000)}ms"
        self.config.write_text(
            f"global:\n  scrape_interval: {every}\n  scrape_timeout: {every}\nscrape_configs:\n"
            f"  - job_name: power-director\n    static_configs:\n      - targets: [{listed}]\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> Prometheus:
        log = (self.directory / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={self.config}",
             f"--storage.tsdb.path={self.directory / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log_text = (self.directory / "prometheus.log").read_text()
                raise RuntimeError(f"prometheus exited: {log_text[-800:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as reply:
                    if reply.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready within {timeout_s:g} s")

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.loads(reply.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expression: str) -> dict[str, float]:
        """An instant query's samples: a label of the series (meter, state, or '') → value."""
        result = self.api("query", query=expression)["result"]
        return {r["metric"].get("meter", r["metric"].get("state", "")): float(r["value"][1]) for r in result}

    def wait_query(self, expression: str, timeout_s: float = 30.0) -> dict[str, float]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.query(expression)
            if found:
                return found
            time.sleep(0.3)
        raise AssertionError(f"prometheus has no {expression} after {timeout_s:g} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

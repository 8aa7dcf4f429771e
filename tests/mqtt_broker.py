"""A real mosquitto broker on a free loopback port, for the MQTT tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).is_file()), None
)
MISSING_REASON = "mosquitto is not installed (apt-get install -y mosquitto)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Mosquitto:
    """``mosquitto -c <file>`` listening on 127.0.0.1:<port>, anonymous unless ``listener_options``
    say otherwise (lines of mosquitto.conf for the listener, e.g. TLS and a password file); stop()
    kills it."""

    def __init__(self, directory: Path, port: int | None = None, listener_options: str = "") -> None:
        assert MOSQUITTO is not None, MISSING_REASON
        self.port = port or free_port()
        self.config = directory / f"mosquitto-{self.port}.conf"
        options = listener_options or "allow_anonymous true\n"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n{options}persistence false\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        self.process = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(self.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.address} within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

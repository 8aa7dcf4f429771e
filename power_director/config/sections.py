"""The director's own config sections (``[session]``, ``[service]``, ``[telemetry]``) and the
problem-list helpers every section's checks use: a section lists all its problems, one line each."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from analyzer_drivers.formats.errors import raise_all as raise_all
from analyzer_drivers.meters.plug import parse_broker
from loadgen_bridge.workload import LEAD_INTERVALS
from power_director.config.meters.base import positive
from power_director.config.system_name import system_name_problem


@dataclass(frozen=True)
class SessionConfig:
    label: str = "run"
    out_dir: str = "power-runs"
    settle_s: float = 1.0
    poll_interval_s: float = 0.5  # how often meters are read; mqtt-stream ones (agent-journaled) every 5 s
    reconnect_timeout_s: float = 30.0  # how long a phase waits for a lost analyzer to come back
    results_url: str = ""  # a lab's results store, postgresql://… (reports.store.postgres); empty: none
    system: str = ""  # the system under test's name; empty: the SUT agent's host, else this host
    machine_nodes: int = 0  # the machine's compute nodes (EEHPC machine fraction); 0: the nodes measured
    lead_intervals: int = LEAD_INTERVALS  # meter intervals measured alone before and after the workload

    def problems(self) -> list[str]:
        found = []
        if problem := system_name_problem(self.system):
            found.append(problem)
        if not self.label or any(c in self.label for c in "/\\,\n"):
            found.append(f"[session] label {self.label!r} must be non-empty, without / \\ , or newline")
        if self.settle_s < 0:
            found.append("[session] settle_s cannot be negative")
        found += positive("session", "poll_interval_s", self.poll_interval_s)
        if self.machine_nodes < 0:
            found.append("[session] machine_nodes cannot be negative")
        if self.lead_intervals < 0:
            found.append("[session] lead_intervals cannot be negative")
        found += positive("session", "reconnect_timeout_s", self.reconnect_timeout_s)
        return found

    def validate(self) -> None:
        raise_all(self.problems())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _not_an_address(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return True
    return False


@dataclass(frozen=True)
class ServiceConfig:
    host: str = "127.0.0.1"
    port: int = 4950
    token_file: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    v3_allowed_addresses: tuple[str, ...] = ()
    max_message_bytes: int = 65_536
    max_file_bytes: int = 512 * 1024 * 1024
    read_timeout_s: float = 30.0
    handshake_timeout_s: float = 10.0
    keepalive_s: float = 5.0
    clock_rounds: int = 16
    v3_phase_timeout_s: float = 7200.0  # v3 clients are silent while LoadGen runs

    def problems(self) -> list[str]:
        found = []
        if not 0 <= self.port < 65536:
            found.append(f"[service] port {self.port} is not a TCP port")
        if not self.token_file and not _is_loopback(self.host):
            found.append(f"[service] refusing to listen on {self.host} without token_file; "
                         "only loopback may go unauthenticated")
        if bool(self.tls_cert) != bool(self.tls_key):
            found.append("[service] tls_cert and tls_key go together: give both or neither")
        found += [f"[service] v3_allowed_addresses: {address!r} is not an IP address"
                  for address in self.v3_allowed_addresses if _not_an_address(address)]
        if not 1024 <= self.max_message_bytes <= 16 * 1024 * 1024:
            found.append(f"[service] max_message_bytes {self.max_message_bytes} is outside 1024..16777216")
        for key in ("max_file_bytes", "read_timeout_s", "handshake_timeout_s", "keepalive_s",
                    "v3_phase_timeout_s"):
            found += positive("service", key, getattr(self, key))
        if self.keepalive_s > 0 and 0 < self.read_timeout_s < self.keepalive_s * 2:
            found.append("[service] keepalive_s must be at most half of read_timeout_s")
        if not 4 <= self.clock_rounds <= 1000:
            found.append(f"[service] clock_rounds {self.clock_rounds} is outside 4..1000")
        return found

    def validate(self) -> None:
        raise_all(self.problems())


@dataclass(frozen=True)
class TelemetryConfig:
    broker: str = ""  # empty: telemetry off
    director_id: str = ""  # empty: this host's name
    prometheus_port: int = 0  # > 0: a Prometheus exporter on prometheus_host:port (observe.exporter)
    prometheus_host: str = "127.0.0.1"  # the address it listens on ("0.0.0.0": every interface)
    queue_size: int = 1000
    flush_timeout_s: float = 2.0

    def problems(self) -> list[str]:
        found = []
        if self.broker:
            try:
                parse_broker(self.broker)
            except ValueError as exc:
                found.append(f"[telemetry] {exc}")
        if any(c in self.director_id for c in "#+/ \0"):
            found.append(f"[telemetry] director_id {self.director_id!r} must not hold # + / or spaces")
        if not 10 <= self.queue_size <= 1_000_000:
            found.append(f"[telemetry] queue_size {self.queue_size} is outside 10..1000000")
        found += positive("telemetry", "flush_timeout_s", self.flush_timeout_s)
        if not 0 <= self.prometheus_port < 65536:
            found.append(f"[telemetry] prometheus_port {self.prometheus_port} is not a TCP port")
        return found

    def validate(self) -> None:
        raise_all(self.problems())

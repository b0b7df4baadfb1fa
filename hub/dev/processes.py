"""The demo's child `hub` processes: started with their own log files, stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from hub.errors import HubError


class Processes:
    """Child `hub` processes, each with its own log file, stopped by SIGTERM on exit."""

    def __init__(self, logdir: Path):
        self.logdir = logdir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` as ``name``, its output in ``<logdir>/<name>.log``."""
        with open(self.logdir / f"{name}.log", "wb") as log:  # the child keeps its own copy of the fd
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append((name, proc))
        return proc

    def check(self) -> None:
        """A HubError naming the first process that exited, with its log's last line."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = (self.logdir / f"{name}.log").read_text(errors="replace").strip().splitlines()[-1:]
                raise HubError(f"{name} exited with code {proc.returncode}: {' '.join(tail)}")

    def wait_port_file(self, path: Path, timeout: float = 60.0) -> int:
        """The port a server wrote to ``path`` once it listens (a HubError if a process died first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check()
            if path.exists() and path.read_text().strip():
                return int(path.read_text())
            time.sleep(0.1)
        raise HubError(f"a server did not start within {timeout:.0f}s")

    def stop_all(self) -> None:
        """SIGTERM to every process still running; SIGKILL to any not gone within 15 s."""
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

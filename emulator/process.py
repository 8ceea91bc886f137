"""Start `python -m emulator --port 0` as a child process and stop it (for test fixtures)."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

STARTUP_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 5.0
LISTENING_LINE = re.compile(r"^Passport emulator listening on (http://\S+:(\d+))$")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class EmulatorProcess:
    """A running emulator child process and the address it announced."""

    process: subprocess.Popen[str]
    base_url: str
    port: int

    def stop(self) -> int | None:
        """Terminate (SIGTERM), kill if it lingers; returns the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def _read_first_line(process: subprocess.Popen[str], timeout: float) -> str | None:
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True)
    reader.start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def start_emulator_process(args: Sequence[str] = (),
                           timeout: float = STARTUP_TIMEOUT_SECONDS) -> EmulatorProcess:
    """Run the emulator on a free port (extra CLI `args` allowed); wait for its address."""
    command = [sys.executable, "-m", "emulator", "--port", "0", *args]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    line = _read_first_line(process, timeout)
    match = LISTENING_LINE.match((line or "").strip())
    if match is None:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
        raise RuntimeError(f"emulator did not announce its address; first line: {line!r}")
    return EmulatorProcess(process=process, base_url=match.group(1), port=int(match.group(2)))

"""Start, stop and probe the local background servers (pid and log files under home)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

__all__ = ["is_running", "pid_of", "start_background", "stop", "wait_http"]


def _run_dir(home: Path) -> Path:
    d = home / "run"
    d.mkdir(parents=True, exist_ok=True)
    return d


def pid_of(home: Path, name: str) -> int | None:
    """Pid recorded for ``name`` if that process is alive."""
    f = _run_dir(home) / f"{name}.pid"
    if not f.exists():
        return None
    try:
        pid = int(f.read_text().strip())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        f.unlink(missing_ok=True)
        return None
    return pid


def is_running(home: Path, name: str) -> bool:
    """Whether the named server is alive."""
    return pid_of(home, name) is not None


def start_background(
    home: Path,
    name: str,
    cmd: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[int, Path]:
    """Start ``cmd`` in its own session, logging to ``<home>/logs/<name>.log``."""
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True,
        )  # fmt: skip
    (_run_dir(home) / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid, log_path


def stop(home: Path, name: str, timeout_s: float = 15.0) -> bool:
    """Stop the named server's process group (TERM, then KILL). True if one ran."""
    pid = pid_of(home, name)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        try:  # reap if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    else:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    (_run_dir(home) / f"{name}.pid").unlink(missing_ok=True)
    return True


def wait_http(url: str, timeout_s: float = 60.0, pid: int | None = None) -> bool:
    """Poll ``url`` until it answers 200; False on timeout or if ``pid`` died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pid is not None:
            try:
                os.kill(pid, 0)
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return False
            except (ProcessLookupError, ChildProcessError):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    return False
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False

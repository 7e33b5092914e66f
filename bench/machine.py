"""What the benchmarks ran on: cores, CPU model, memory and load, read from /proc."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def status_bytes(status: str, field: str) -> int:
    """Bytes of a `kB` line of /proc/<pid>/status text (`VmRSS`, `VmHWM`); 0 when absent (a kernel
    thread or a zombie has no `VmRSS`)."""
    for line in status.splitlines():
        name, sep, value = line.partition(":")
        if sep and name == field:
            return int(value.split()[0]) * 1024
    return 0


def own_status_bytes(field: str) -> int:
    """`status_bytes` of this process (`VmRSS`: resident now, `VmHWM`: its high-water mark)."""
    return status_bytes(Path("/proc/self/status").read_text(), field)


def cpu_model(cpuinfo: str) -> str:
    """The first `model name` of /proc/cpuinfo text (or `Hardware`/`Processor` on ARM)."""
    for key in ("model name", "Hardware", "Processor"):
        for line in cpuinfo.splitlines():
            name, sep, value = line.partition(":")
            if sep and name.strip() == key and value.strip():
                return value.strip()
    return platform.processor() or "unknown"


def mem_total_gib(meminfo: str) -> float:
    """MemTotal of /proc/meminfo text, in GiB."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def describe() -> dict[str, Any]:
    """The machine and its load now; printed with every result and stored in its JSON."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(_read("/proc/cpuinfo")),
        "mem_gib": round(mem_total_gib(_read("/proc/meminfo")), 1),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def summary(info: dict[str, Any]) -> str:
    load = ", ".join(f"{x:.2f}" for x in info["loadavg"])
    return f"{info['date']}  {info['nproc']} cores  {info['cpu']}  {info['mem_gib']} GiB  load average {load}"

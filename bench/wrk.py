"""Driving wrk: a Lua script that POSTs prepared bodies in turn, and one run parsed into a WrkResult."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

from bench.measure import WrkResult, parse_wrk

# Each wrk thread loads the bodies file (one JSON body per line) and starts at its own offset, so
# threads do not send the same card at the same moment. `done` prints wrk's exact histogram figures.
LUA = """\
local threads = 0
function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
end

local bodies, i = {}, 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  i = (thread_no or 0) * 7919
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "latency_us": {"50": %.1f, "90": %.1f, ' ..
    '"99": %.1f, "99.9": %.1f, "100": %.1f}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk not found on PATH; install it with `apt-get install wrk`")
    return found


def write_script(directory: Path) -> Path:
    path = directory / "post_bodies.lua"
    path.write_text(LUA)
    return path


def run_wrk(
    url: str, script: Path, bodies: Path, *, connections: int, duration_s: float, threads: int = 2
) -> WrkResult:
    """One closed-loop wrk run against `url`; raises with wrk's output when it fails."""
    cmd = [
        wrk_binary(),
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        "--latency",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
        "--",
        str(bodies),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr[-2000:] or proc.stdout[-2000:]}")
    return dataclasses.replace(parse_wrk(proc.stdout), connections=connections)


def command_line(url: str, connections: int, duration_s: float, threads: int = 2) -> str:
    """The wrk command a reader can paste (the script is written by the bench into its temp dir)."""
    return (
        f"wrk -t{min(threads, connections)} -c{connections} -d{duration_s:g}s --latency --timeout 5s "
        f"-s post_bodies.lua {url} -- bodies.jsonl"
    )

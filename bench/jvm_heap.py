"""The heap of each JVM in a process tree, from `jstat -gc`: what the soak needs to tell a heap that
grows toward its ceiling (the JVM sizing itself) from memory that keeps growing past it.

`jstat -gc <pid>` prints one header line and one line of figures, in KB:

    S0C S1C S0U S1U EC EU OC OU MC MU CCSC CCSU YGC YGCT FGC FGCT CGC CGCT GCT

Committed heap is the survivor, eden and old capacities; used is the same spaces' use, garbage
included. The live set is what `jcmd <pid> GC.class_histogram` counts after the full collection it
forces (its last line: `Total <instances> <bytes>`); it stops the JVM for that collection, so the
soak takes it twice, half way and at the end, not every sample.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation.processes import PROC, process_tree


@dataclass(frozen=True)
class Heap:
    """One JVM's heap, in MB."""

    committed_mb: float
    used_mb: float
    old_used_mb: float
    young_gcs: int
    full_gcs: int

    def __add__(self, other: Heap) -> Heap:
        return Heap(
            self.committed_mb + other.committed_mb,
            self.used_mb + other.used_mb,
            self.old_used_mb + other.old_used_mb,
            self.young_gcs + other.young_gcs,
            self.full_gcs + other.full_gcs,
        )


NO_HEAP = Heap(0.0, 0.0, 0.0, 0, 0)


def parse_jstat_gc(text: str) -> Heap:
    """`jstat -gc` output as a Heap; ValueError when it is not that output."""
    lines = [line.split() for line in text.strip().splitlines()]
    if len(lines) != 2 or len(lines[0]) != len(lines[1]):
        raise ValueError(f"not the output of jstat -gc: {text!r}")
    row = dict(zip(lines[0], lines[1], strict=True))
    try:
        kb = {k: float(row[k]) for k in ("S0C", "S1C", "EC", "OC", "S0U", "S1U", "EU", "OU")}
        young, full = int(row["YGC"]), int(row["FGC"])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"jstat -gc output without {exc}: {text!r}") from None
    return Heap(
        committed_mb=(kb["S0C"] + kb["S1C"] + kb["EC"] + kb["OC"]) / 1024,
        used_mb=(kb["S0U"] + kb["S1U"] + kb["EU"] + kb["OU"]) / 1024,
        old_used_mb=kb["OU"] / 1024,
        young_gcs=young,
        full_gcs=full,
    )


def parse_histogram_total(text: str) -> float:
    """The live heap in MB from `jcmd <pid> GC.class_histogram`; ValueError when it has no total."""
    for line in reversed(text.strip().splitlines()):
        parts = line.split()
        if len(parts) == 3 and parts[0] == "Total" and parts[2].isdigit():
            return int(parts[2]) / 2**20
    raise ValueError(f"no Total line in the output of jcmd GC.class_histogram: {text[-200:]!r}")


def jvm_pids(root: int, proc: Path = PROC) -> list[int]:
    """The processes under `root` (itself included) that are JVMs, by their command name."""
    pids = []
    for pid in process_tree(root, proc):
        try:
            if (proc / str(pid) / "comm").read_text().strip() == "java":
                pids.append(pid)
        except OSError:
            continue  # gone since the walk
    return pids


def tree_heap(root: int, jstat: str | None = None) -> Heap | None:
    """The heaps of every JVM under `root`, summed; None without a `jstat` on the PATH."""
    jstat = jstat or shutil.which("jstat")
    if jstat is None:
        return None
    total = NO_HEAP
    for pid in jvm_pids(root):
        try:
            command = [jstat, "-gc", str(pid)]
            out = subprocess.run(command, capture_output=True, text=True, timeout=20, check=True)
            total = total + parse_jstat_gc(out.stdout)
        except (subprocess.SubprocessError, OSError, ValueError):
            continue  # the JVM exited (or is not attachable) between the walk and jstat
    return total


def tree_live_heap_mb(root: int, jcmd: str | None = None) -> float | None:
    """The live heap of every JVM under `root`, summed, each after a full collection; None without
    a `jcmd` on the PATH."""
    jcmd = jcmd or shutil.which("jcmd")
    if jcmd is None:
        return None
    total = 0.0
    for pid in jvm_pids(root):
        try:
            command = [jcmd, str(pid), "GC.class_histogram"]
            out = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
            total += parse_histogram_total(out.stdout)
        except (subprocess.SubprocessError, OSError, ValueError):
            continue  # the JVM exited between the walk and jcmd
    return total

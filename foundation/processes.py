"""Processes under a pid, read off /proc: the job's drivers run their JVMs and Python workers as
children, so what is said of a driver (its priority, its memory) is said of its whole tree."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def process_tree(root: int, proc: Path = PROC) -> list[int]:
    """`root` and every process under it, from the parent pids in /proc (just `root` without /proc)."""
    children: dict[int, list[int]] = {}
    for stat in proc.glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone since the glob
        children.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree

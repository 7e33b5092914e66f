"""Reading a JVM's heap off `jstat -gc`, and finding the JVMs of a process tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.jvm_heap import NO_HEAP, Heap, jvm_pids, parse_histogram_total, parse_jstat_gc

# JDK 17's `jstat -gc` of a Spark driver (KB; capacities and uses of survivor, eden, old, metaspace);
# jstat pads its columns with runs of spaces, as the first two here
JSTAT = (
    "    S0C     S1C S0U S1U EC EU OC OU MC MU CCSC CCSU YGC YGCT FGC FGCT CGC CGCT GCT\n"
    "0.0 14336.0 0.0 14336.0 325632.0 116736.0 708608.0 401408.5 125312.0 121788.7 16256.0 14977.2"
    " 57 1.034 0 0.000 10 0.071 1.105\n"
)


def test_committed_is_survivors_eden_and_old_used_is_their_use() -> None:
    heap = parse_jstat_gc(JSTAT)
    assert heap.committed_mb == pytest.approx((14336 + 325632 + 708608) / 1024)
    assert heap.used_mb == pytest.approx((14336 + 116736 + 401408.5) / 1024)
    assert heap.old_used_mb == pytest.approx(401408.5 / 1024)
    assert (heap.young_gcs, heap.full_gcs) == (57, 0)


@pytest.mark.parametrize(
    "text",
    [
        "",  # jstat printed nothing (the JVM went away)
        "12345 not found\n",  # one line: jstat's own error
        "S0C S1C\n1.0\n",  # a row shorter than its header
        "S0C S1C EC\n1.0 2.0 3.0\n",  # not -gc's columns
        JSTAT.replace("57", "many"),  # a count that is not a number
    ],
)
def test_what_is_not_jstat_gc_output_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="jstat -gc"):
        parse_jstat_gc(text)


def test_heaps_add_up() -> None:
    a, b = Heap(100.0, 50.0, 20.0, 3, 0), Heap(10.0, 5.0, 2.0, 1, 1)
    assert a + b == Heap(110.0, 55.0, 22.0, 4, 1)
    assert a + NO_HEAP == a


def _proc(root: Path, pid: int, ppid: int, comm: str) -> None:
    d = root / str(pid)
    d.mkdir()
    (d / "stat").write_text(f"{pid} ({comm}) S {ppid} 1 1 0")
    (d / "comm").write_text(comm + "\n")


def test_the_jvms_of_a_tree_are_its_java_processes_only(tmp_path: Path) -> None:
    _proc(tmp_path, 10, 1, "python")  # the hot driver's Python
    _proc(tmp_path, 11, 10, "java")  # its JVM
    _proc(tmp_path, 12, 10, "python")  # the history driver's Python
    _proc(tmp_path, 13, 12, "java")  # its JVM
    _proc(tmp_path, 14, 11, "python3")  # a Python worker of the first JVM
    _proc(tmp_path, 20, 1, "java")  # someone else's JVM
    assert sorted(jvm_pids(10, tmp_path)) == [11, 13]
    assert jvm_pids(14, tmp_path) == []


HISTOGRAM = """\
29582:
 num     #instances         #bytes  class name (module)
-------------------------------------------------------
   1:        222755      167981520  [B (java.base@17.0.15)
   2:         14840       42924144  [J (java.base@17.0.15)
12540:             1             16  sun.util.resources.cldr.provider.CLDRLocaleDataMetaInfo
Total       2012792      400871560
"""


def test_the_live_heap_is_the_histograms_total() -> None:
    assert parse_histogram_total(HISTOGRAM) == pytest.approx(400871560 / 2**20)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "29582:\ncom.sun.tools.attach.AttachNotSupportedException: Unable to open socket file\n",
        HISTOGRAM.replace("Total       2012792      400871560", "Total       2012792"),  # cut short
    ],
)
def test_a_histogram_without_its_total_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"GC\.class_histogram"):
        parse_histogram_total(text)

"""Reading the machine description out of /proc text."""

from __future__ import annotations

import pytest

from bench.machine import cpu_model, mem_total_gib

CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
cpu MHz\t\t: 2100.000

processor\t: 1
model name\t: Intel(R) Xeon(R) Processor
"""


def test_cpu_model_is_the_first_model_name() -> None:
    assert cpu_model(CPUINFO) == "Intel(R) Xeon(R) Processor"


def test_cpu_model_on_arm_uses_hardware() -> None:
    assert cpu_model("processor\t: 0\nHardware\t: BCM2835\n") == "BCM2835"


def test_mem_total_in_gib() -> None:
    assert mem_total_gib("MemTotal:       24641536 kB\nMemFree: 1 kB\n") == pytest.approx(23.5, abs=0.05)

"""start_batches and InterruptedBatchLog: a batch a stop interrupts fails with one short info line."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest
from py4j.protocol import Py4JJavaError

from foundation.logs import JsonFormatter
from streaming.sinks import BatchInterrupted, InterruptedBatchLog, start_batches

# How Spark 4.2 tells its own stop from a failure in a foreachBatch function's Python error text
# (StreamExecution.PROXY_ERROR, with the interruption class names).
SPARK_STOPPED = re.compile(
    r"py4j.protocol.Py4JJavaError: An error occurred while calling((.|\r\n|\r|\n)*)"
    r"(java.lang.InterruptedException|java.io.InterruptedIOException|java.nio.channels.ClosedByInterruptException)"
)


class JavaThrowable:
    """Stands in for the py4j proxy of a Java exception: its class name and its cause."""

    _target_id = "o2443"  # what Py4JJavaError keeps to ask the JVM for the trace

    def __init__(self, name: str, cause: JavaThrowable | None = None) -> None:
        self._name, self._cause = name, cause

    def getClass(self) -> Any:
        name = self._name
        return type("JavaClass", (), {"getName": lambda self: name})()

    def getCause(self) -> JavaThrowable | None:
        return self._cause


class StreamWriter:
    """Records the function handed to foreachBatch, as DataStreamWriter would run it per batch."""

    def __init__(self) -> None:
        self.run: Callable[[Any, int], None] | None = None

    def foreachBatch(self, run: Callable[[Any, int], None]) -> StreamWriter:
        self.run = run
        return self

    def start(self) -> str:
        return "query"


def batch_run(error: BaseException | None) -> Callable[[Any, int], None]:
    def write(batch: Any, batch_id: int) -> None:
        if error is not None:
            raise error

    stream = StreamWriter()
    assert start_batches(stream, write) == "query"
    assert stream.run is not None
    return stream.run


def java_error(exc: JavaThrowable) -> Py4JJavaError:
    # str() of the real error asks the JVM for the whole Java trace (~18 KB); errmsg is the first line.
    return Py4JJavaError("An error occurred while calling o2442.save.\n", exc)


@pytest.mark.parametrize(
    "thrown",
    [
        JavaThrowable("java.lang.InterruptedException"),
        JavaThrowable("org.apache.spark.SparkException", JavaThrowable("java.io.InterruptedIOException")),
        JavaThrowable(
            "org.apache.spark.SparkException",
            JavaThrowable(
                "java.util.concurrent.ExecutionException", JavaThrowable("java.lang.InterruptedException")
            ),
        ),
        JavaThrowable("java.nio.channels.ClosedByInterruptException"),
    ],
)
def test_an_interrupted_batch_fails_with_one_line_spark_recognises(thrown: JavaThrowable) -> None:
    with pytest.raises(BatchInterrupted) as raised:
        batch_run(java_error(thrown))(None, 7)
    message = f"streaming.sinks.BatchInterrupted: {raised.value}"  # its line in the Python traceback
    assert SPARK_STOPPED.search(message), message
    assert "micro-batch 7" in message and "o2442.save" in message
    assert len(message) < 300
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_other_java_failures_are_raised_unchanged() -> None:
    error = java_error(JavaThrowable("org.apache.spark.SparkException", JavaThrowable("java.io.IOException")))
    with pytest.raises(Py4JJavaError) as raised:
        batch_run(error)(None, 1)
    assert raised.value is error


def test_python_failures_are_raised_unchanged() -> None:
    with pytest.raises(KeyError):
        batch_run(KeyError("card_token"))(None, 1)
    batch_run(None)(None, 2)  # and a batch that works returns


def _py4j_error_record(exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except type(exc):
        info = sys.exc_info()
    return logging.LogRecord(
        "py4j.clientserver",
        logging.ERROR,
        __file__,
        1,
        "There was an exception while executing the Python Proxy on the Python Side.",
        None,
        info,
    )


def test_a_batch_the_stop_interrupted_is_logged_as_one_info_line() -> None:
    record = _py4j_error_record(BatchInterrupted("micro-batch 3 stopped halfway"))
    assert InterruptedBatchLog().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["msg"]) == ("info", "micro-batch 3 stopped halfway")
    assert "exception" not in line


def test_any_other_python_proxy_error_keeps_its_level_and_trace() -> None:
    record = _py4j_error_record(KeyError("card_token"))
    assert InterruptedBatchLog().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "error" and "KeyError: 'card_token'" in line["exception"]

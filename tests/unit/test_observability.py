"""The request line (app.observability.AccessLog): the shape of every other log line, one write, no
forged lines, nothing above INFO, and an answer never fails for its line."""
from __future__ import annotations

import io
import json
import logging
import re

import pytest

from app.observability import AccessLog, MillisStamp, StdoutLines, log_handler

ROUTE = "/v1/customers/<path:customer_id>"
A_MISS = ("rid-1", "127.0.0.1", "web", "GET", ROUTE, 200, "MISS", 0.00081, 0.0021)
LOGGING_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}")


def written(capsys: pytest.CaptureFixture[str], access: AccessLog, *fields: object) -> str:
    access.write(*fields)  # type: ignore[arg-type]
    return capsys.readouterr().out


class TestJsonLines:
    def test_a_line_has_the_fields_of_every_other_json_log_line_then_its_own(self, capsys):
        [line] = written(capsys, AccessLog("INFO", "json"), *A_MISS).splitlines()
        decoded = json.loads(line)
        assert LOGGING_TIME.fullmatch(decoded.pop("time"))
        assert decoded == {
            "level": "INFO", "logger": "passport_bff.access", "request_id": "rid-1",
            "message": f"GET {ROUTE} 200 client=127.0.0.1 caller=web cache=MISS upstream=0.8ms 2.1ms",
            "client": "127.0.0.1", "caller": "web", "method": "GET", "route": ROUTE, "status": 200, "cache": "MISS",
            "upstream_ms": 0.8, "duration_ms": 2.1,
        }

    def test_it_reads_as_pythonjsonlogger_writes_a_record_of_the_same_fields(self, capsys):
        """The line is the one ``logging`` with the service's JSON handler wrote before (time aside)."""
        stream = io.StringIO()
        logger = logging.getLogger("passport_bff.access")
        handler = log_handler(stream, "json")
        logger.addHandler(handler)
        try:
            logger.propagate, logger.level = False, logging.INFO
            logger.info("%s %s %s client=%s caller=%s cache=%s upstream=%.1fms %.1fms", "GET", ROUTE, 200,
                        "127.0.0.1", "web", "MISS", 0.8, 2.1, extra={
                            "request_id": "rid-1", "client": "127.0.0.1", "caller": "web", "method": "GET",
                            "route": ROUTE, "status": 200, "cache": "MISS", "upstream_ms": 0.8, "duration_ms": 2.1})
        finally:
            logger.removeHandler(handler)
            logger.propagate, logger.level = True, logging.NOTSET
        ours = written(capsys, AccessLog("INFO", "json"), *A_MISS)
        assert LOGGING_TIME.sub("T", ours) == LOGGING_TIME.sub("T", stream.getvalue())

    def test_missing_values_are_null_and_said_so_in_the_message(self, capsys):
        line = json.loads(written(capsys, AccessLog("INFO", "json"), "rid-2", None, None, "OTHER", "unmatched", 404,
                                  None, 0.0, 0.0001))
        assert (line["client"], line["caller"], line["cache"]) == (None, None, None)
        assert line["message"] == "OTHER unmatched 404 client=None caller=- cache=- upstream=0.0ms 0.1ms"

    def test_with_tracing_on_a_line_names_its_trace_after_the_request_id(self, capsys):
        line = json.loads(written(capsys, AccessLog("INFO", "json", traced=True), *A_MISS))
        assert list(line)[3:5] == ["request_id", "trace_id"] and line["trace_id"] == "-"  # no span current

    @pytest.mark.parametrize("hostile", ['we"b', "web\n{\"forged\": true}", "\\u0000", "caller\u2028x"])
    def test_a_hostile_caller_or_client_stays_inside_its_own_field(self, capsys, hostile):
        out = written(capsys, AccessLog("INFO", "json"), "rid-3", hostile, hostile, "GET", ROUTE, 200, "HIT", 0, 0.001)
        [line] = out.splitlines()
        decoded = json.loads(line)
        assert decoded["caller"] == decoded["client"] == hostile
        assert "forged" not in decoded


class TestTextLines:
    def test_a_line_reads_as_the_text_format_of_every_other_line(self, capsys):
        out = written(capsys, AccessLog("INFO", "text"), *A_MISS)
        assert re.fullmatch(
            rf"{LOGGING_TIME.pattern} INFO passport_bff.access \[rid-1\] GET {re.escape(ROUTE)} 200 "
            r"client=127\.0\.0\.1 caller=web cache=MISS upstream=0\.8ms 2\.1ms\n", out)

    def test_with_tracing_on_the_trace_follows_the_request_id(self, capsys):
        assert "[rid-1 trace=-] " in written(capsys, AccessLog("INFO", "text", traced=True), *A_MISS)

    def test_a_caller_with_a_line_break_cannot_forge_a_second_line(self, capsys):
        out = written(capsys, AccessLog("INFO", "text"), "rid-4", "10.0.0.1", "web\n2026-12-07 INFO forged", "GET",
                      ROUTE, 200, "HIT", 0, 0.001)
        assert out.count("\n") == 1 and "caller=web\\n2026-12-07 INFO forged" in out


class TestWhenNothingIsWritten:
    @pytest.mark.parametrize("level", ["WARNING", "ERROR"])
    def test_no_line_above_info(self, capsys, level):
        assert written(capsys, AccessLog(level, "json"), *A_MISS) == ""

    def test_a_line_at_debug_too(self, capsys):
        assert written(capsys, AccessLog("DEBUG", "text"), *A_MISS).count("\n") == 1

    def test_a_closed_stdout_costs_the_answer_nothing_and_is_said_once(self, monkeypatch, caplog):
        closed = io.StringIO()
        closed.close()
        monkeypatch.setattr("sys.stdout", closed)
        access = AccessLog("INFO", "json")
        with caplog.at_level(logging.WARNING, logger="app.observability"):
            for _ in range(3):
                access.write(*A_MISS)
        said = [r.getMessage() for r in caplog.records]
        assert len(said) == 1 and said[0].startswith("request lines could not be written to stdout (ValueError: ")


class TestStdoutLines:
    def test_a_line_goes_to_the_file_descriptor_of_stdout_in_one_piece(self, capfd):
        StdoutLines().write(b"one\ntwo\n")
        assert capfd.readouterr().out == "one\ntwo\n"

    def test_a_stdout_without_a_descriptor_gets_it_through_its_own_write(self, monkeypatch):
        stream = io.StringIO()
        monkeypatch.setattr("sys.stdout", stream)
        StdoutLines().write(b"line\n")
        assert stream.getvalue() == "line\n"


def test_the_request_lines_time_is_loggings_own_stamp_of_local_time(monkeypatch):
    monkeypatch.setattr("time.time", lambda: 1_796_653_113.042)
    record = logging.makeLogRecord({})
    record.created, record.msecs = 1_796_653_113.042, 42.0
    assert MillisStamp.of_logging().now() == logging.Formatter().formatTime(record)


def test_a_stamp_follows_the_clock_across_seconds(monkeypatch):
    now = iter([1_796_653_113.75, 1_796_653_114.25])
    monkeypatch.setattr("time.time", lambda: next(now))
    stamp = MillisStamp.iso_utc()
    assert [stamp.now(), stamp.now()] == ["2026-12-07T14:18:33.750Z", "2026-12-07T14:18:34.250Z"]

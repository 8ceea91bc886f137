"""The audit trail's parts: the line, the purpose rule, the file sink across rotation and failure."""
from __future__ import annotations

import json
import re

import pytest

from app.observability import MillisStamp
from app.web import audit
from app.web.audit import AuditTrail, purpose_of
from app.web.problems import Problem
from config.settings import AuditSettings
from tests.support.emulator import DOCS_ACCOUNT_ID

CUSTOMER = "db7e89e7-59d8-4ab1-b675-a2ae52c3339e"


def disclose(trail: AuditTrail, *records: tuple[str, str], caller: str | None = "web") -> None:
    trail.disclosed("customer", [(record_id, None, result) for record_id, result in records], caller=caller,
                    route="/v1/customers", request_id="req-1", purpose="kyc")


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_record_is_one_json_line_and_any_caller_name_stays_valid_json(tmp_path):
    sink = tmp_path / "audit.log"
    trail = AuditTrail(AuditSettings("file", str(sink)))
    disclose(trail, (CUSTOMER, "HIT"), ("0" * 8 + "-0000-0000-0000-" + "0" * 12, "MISS"), caller='sub "x"\\\n\u00e9')
    first, second = lines(sink)
    assert (first["customer_id"], first["result"], second["result"]) == (CUSTOMER, "HIT", "MISS")
    assert first["caller"] == 'sub "x"\\\n\u00e9' and first["purpose"] == "kyc" and first["trace_id"] is None


def test_a_record_of_another_kind_names_itself_and_the_customer_it_belongs_to(tmp_path):
    sink = tmp_path / "audit.log"
    trail = AuditTrail(AuditSettings("file", str(sink)))
    account = DOCS_ACCOUNT_ID
    trail.disclosed("account", [(account, CUSTOMER, "MISS"), (account, None, "HIT")], caller="web",
                    route="/v1/accounts/<path:account_id>", request_id="req-1", purpose=None)
    first, second = lines(sink)
    assert first["event"] == "account.disclosed" and first["account_id"] == account
    assert (first["customer_id"], second["customer_id"]) == (CUSTOMER, None)
    assert (first["route"], first["result"], first["caller"]) == ("/v1/accounts/<path:account_id>", "MISS", "web")


def test_time_is_utc_with_milliseconds():
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", MillisStamp.iso_utc().now())


@pytest.mark.parametrize("value", ["kyc-review", "ticket:SUP-1234", "a", "x" * 64, "case#12=a+b/c_d.e"])
def test_a_sane_purpose_is_kept(value):
    assert purpose_of(value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, "two words", "-first", "quote\"", "new\nline", "é"])
def test_anything_else_is_a_400_problem_naming_the_header(value):
    with pytest.raises(Problem) as refused:
        purpose_of(value)
    assert refused.value.code == 400 and "X-Purpose" in refused.value.detail


def test_a_rotated_or_deleted_file_is_reopened(tmp_path, monkeypatch):
    monkeypatch.setattr(audit, "ROTATION_CHECK_SECONDS", 0.0)
    sink = tmp_path / "audit.log"
    trail = AuditTrail(AuditSettings("file", str(sink)))
    disclose(trail, (CUSTOMER, "HIT"))
    sink.rename(tmp_path / "audit.log.1")  # logrotate's move
    disclose(trail, (CUSTOMER, "MISS"))
    assert [line["result"] for line in lines(tmp_path / "audit.log.1")] == ["HIT"]
    assert [line["result"] for line in lines(sink)] == ["MISS"]
    sink.unlink()
    disclose(trail, (CUSTOMER, "STALE"))
    assert [line["result"] for line in lines(sink)] == ["STALE"]


def test_a_sink_that_fails_heals_when_the_file_can_be_written_again(tmp_path):
    directory = tmp_path / "gone"
    directory.mkdir()
    trail = AuditTrail(AuditSettings("file", str(directory / "audit.log")))
    directory.rmdir()  # the first write fails: no directory
    disclose(trail, (CUSTOMER, "HIT"))
    directory.mkdir()
    disclose(trail, (CUSTOMER, "MISS"))
    assert [line["result"] for line in lines(directory / "audit.log")] == ["MISS"]


def test_off_is_disabled():
    assert not AuditTrail(AuditSettings("off")).enabled

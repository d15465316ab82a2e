"""Bad input gives a clear error or an empty result with a reason, never a crash."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main
from app.errors import InputError
from app.parser import parse


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_is_an_error(text):
    with pytest.raises(InputError, match="empty"):
        parse(text)


def test_no_direction_gives_an_empty_result_with_a_reason():
    r = parse("打造科教产城人融合发展高地，规划面积 11.95 平方公里。").to_dict()
    assert r["parts"] == [] and r["reason"] == "no direction clause found"
    assert r["area_km2"] == 11.95


def test_ten_megabytes_is_refused():
    with pytest.raises(InputError, match="limit"):
        parse("东至甲路，" * 2_000_000)


def test_binary_garbage_is_refused():
    garbage = bytes(range(256)).decode("latin-1") * 50
    with pytest.raises(InputError, match="binary"):
        parse(garbage)


def test_not_a_string():
    with pytest.raises(InputError):
        parse(b"\xe4\xb8\x9c\xe8\x87\xb3")  # type: ignore[arg-type]


def test_cli_reports_errors_without_traceback(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["parse", "--json", ""])
    assert res.exit_code == 2 and "error: text is empty" in res.output
    assert "Traceback" not in res.output
    binary = tmp_path / "x.bin"
    binary.write_bytes(b"\x00\x01\x02" * 1000)
    res = runner.invoke(main, ["extract", str(binary)])
    assert res.exit_code == 2 and "binary" in res.output


def test_jsonl_keeps_every_line_and_order(tmp_path):
    f = tmp_path / "clauses.jsonl"
    f.write_text(
        "\n".join([
            json.dumps({"id": "a", "text": "东至甲路，西至乙路"}, ensure_ascii=False),
            "not json",
            json.dumps({"text": ""}),
            json.dumps({"text": "南至丙路"}, ensure_ascii=False),
        ]),
        encoding="utf-8",
    )  # fmt: skip
    res = CliRunner().invoke(main, ["parse", "--json", "--jsonl", str(f)])
    assert res.exit_code == 0
    rows = [json.loads(x) for x in res.stdout.splitlines()]
    assert rows[0]["id"] == "a" and rows[0]["parts"][0]["sides"]["east"][0]["name"] == "甲路"
    assert rows[1]["line"] == 2 and "error" in rows[1]
    assert rows[2]["line"] == 3 and "empty" in rows[2]["error"]
    assert rows[3]["parts"][0]["sides"]["south"][0]["name"] == "丙路"

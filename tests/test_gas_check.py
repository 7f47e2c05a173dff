"""The gas regression check that `make test` runs (`make gas-check`): `ape run gas_report --check
reports/gas-snapshot.json` measures every row's steady state and fails when a figure grows more than 1%
over the committed snapshot. Here the check is fed tampered snapshots against the committed report's
figures (the measurement itself runs in `make gas-check`)."""

import importlib.util
import json
import re

import click
import pytest

from tests.support.paths import ROOT

REPORT = ROOT / "reports" / "gas.json"
SNAPSHOT = ROOT / "reports" / "gas-snapshot.json"


@pytest.fixture(scope="module")
def gas_report():
    spec = importlib.util.spec_from_file_location("fitmint_gas_report", ROOT / "scripts" / "gas_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def rows():
    return json.loads(REPORT.read_text())["rows"]


@pytest.fixture
def snapshot():
    return json.loads(SNAPSHOT.read_text())


def write(tmp_path, snapshot):
    path = tmp_path / "gas-snapshot.json"
    path.write_text(json.dumps(snapshot))
    return path


def test_committed_snapshot_covers_every_row_and_passes(gas_report, rows, snapshot):
    assert set(snapshot["steady_state"]) == {row["action"] for row in rows}
    problems, lines = gas_report.compare(snapshot, rows)
    assert problems == []
    assert len(lines) == 2 * len(rows)  # fitmint and baseline of every row


@pytest.mark.parametrize("side", ["fitmint", "baseline"])
def test_growth_over_one_percent_fails_naming_the_row_and_both_figures(gas_report, rows, snapshot, tmp_path, side):
    row = next(row for row in rows if row["action"] == "purchase (primary)")
    measured = row["steady_state"]["gas" if side == "fitmint" else "baseline_gas"]
    committed = measured * 100 // 102  # the measurement is ~2% above this snapshot
    snapshot["steady_state"]["purchase (primary)"][side] = committed

    with pytest.raises(click.ClickException) as failure:
        gas_report.check(write(tmp_path, snapshot), rows)
    message = failure.value.message
    assert f"purchase (primary), {side}: {committed:,} -> {measured:,} gas" in message
    assert "more than 1% above the snapshot" in message
    assert "--update-snapshot" in message  # how to refresh it on purpose
    assert message.count("more than 1%") == 1  # only the tampered figure


def test_one_percent_is_the_limit(gas_report, rows, snapshot, tmp_path):
    row = rows[0]
    measured = row["steady_state"]["gas"]
    at_limit = -(-measured * 100 // 101)  # the smallest snapshot figure `measured` is within 1% of
    snapshot["steady_state"][row["action"]]["fitmint"] = at_limit
    gas_report.check(write(tmp_path, snapshot), rows)

    snapshot["steady_state"][row["action"]]["fitmint"] = at_limit - 1
    expected = f"{row['action']}, fitmint: {at_limit - 1:,} -> {measured:,}"
    with pytest.raises(click.ClickException, match=re.escape(expected)):
        gas_report.check(write(tmp_path, snapshot), rows)


def test_equal_or_lower_figures_pass(gas_report, rows, snapshot, tmp_path):
    for figures in snapshot["steady_state"].values():
        figures["fitmint"] *= 2  # everything now costs half the snapshot
    lines = gas_report.check(write(tmp_path, snapshot), rows)
    assert all("lower: refresh the snapshot" in line for line in lines if ", fitmint:" in line)


def test_rows_missing_on_either_side_fail(gas_report, rows, snapshot, tmp_path):
    del snapshot["steady_state"]["resale purchase"]
    snapshot["steady_state"]["a retired action"] = {"fitmint": 1, "baseline": 1}
    with pytest.raises(click.ClickException) as failure:
        gas_report.check(write(tmp_path, snapshot), rows)
    assert "resale purchase: measured but not in the snapshot" in failure.value.message
    assert "a retired action: in the snapshot but no longer measured" in failure.value.message


def test_a_refreshed_snapshot_holds_the_steady_state_figures(gas_report, rows, tmp_path):
    path = tmp_path / "refreshed.json"
    gas_report.write_snapshot(rows, path)
    refreshed = json.loads(path.read_text())
    assert refreshed["steady_state"]["purchase (primary)"] == {
        "fitmint": next(r for r in rows if r["action"] == "purchase (primary)")["steady_state"]["gas"],
        "baseline": next(r for r in rows if r["action"] == "purchase (primary)")["steady_state"]["baseline_gas"],
    }
    assert gas_report.compare(refreshed, rows)[0] == []


def test_the_report_puts_each_figure_beside_issue_22s_target_and_says_what_stands_in_the_way_of_a_miss(
        gas_report, rows):
    by_action = {row["action"]: row for row in rows}
    by_action["claim batch of 10, per voucher"]["steady_state"]["gas"] = 35_001
    by_action["FIT transfer"]["steady_state"]["gas"] = 36_000
    by_action["ERC-1155 mint"]["first_time"]["gas"] = 50_000
    lines = "\n".join(gas_report.target_lines(rows))
    assert "| claim batch of 10, per voucher (steady state) | 35,001 | <= 35,000 | - | not met |" in lines
    assert "- **claim batch of 10, per voucher (steady state)**, 1 over: it met its target" in lines
    assert "- **FIT transfer (steady state)**, 1,725 over: FitToken's pause flag" in lines
    assert "| ERC-1155 mint (first time) | 50,000 | <= 50,236 |" in lines
    assert "**ERC-1155 mint" not in lines

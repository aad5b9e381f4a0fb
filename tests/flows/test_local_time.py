"""The centre's time ([schedule].timezone) is the product's local time, whatever the machine's
clock is kept in (config.use_local_time)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from exchange.accounts import add_unit
from exchange.config import init_instance
from exchange.store.db import open_database
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook

# A zone fourteen hours east of UTC, without summer time: whenever the test runs, its date and
# hour differ from UTC's, so a time read from the machine's clock cannot pass for it.
ZONE, OFFSET = "Pacific/Kiritimati", timedelta(hours=14)


def test_a_receipt_tells_the_centres_time_on_a_machine_kept_in_utc(tmp_path: Path) -> None:
    """On a machine kept in UTC (a container's default), a receipt said 接收时间 in UTC and, in
    the same text, the next submission in the schedule's zone, hours apart; a file's name, its
    archive month and every date a rule compares came from the machine's clock too."""
    home = tmp_path / "inst"
    instance = init_instance(home)
    db = open_database(instance)
    with db.session() as s:
        add_unit(instance, s, "1001", "南通示例科技有限公司", password="pw-1001-x")
    db.dispose()
    config = home / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(
        'timezone = "Asia/Shanghai"', f'timezone = "{ZONE}"'), encoding="utf-8")
    make_workbook(home / "inbox" / "1001" / "增员.xlsx", ADD_HEADERS,
                  [add_row(make_id("19800101", "611"), "甲")], title="职工批量新增申报填写表")
    env = {**os.environ, "TZ": "UTC"}
    env.pop("EXCHANGE_HOME", None)
    done = subprocess.run([sys.executable, "-c", "from exchange.cli import main; main()",
                           "--home", str(home), "process"], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    centre_now = datetime.now(timezone(OFFSET)).replace(tzinfo=None)
    [path] = (home / "outbox" / "1001" / "receipts").glob("*.json")
    received = datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["received_at"])
    assert abs(received - centre_now) < timedelta(minutes=5), (received, centre_now)
    assert path.name.startswith(f"{received:%Y%m%d-%H%M}")
    text = next((home / "outbox" / "1001" / "receipts").glob("*.txt"))
    assert f"{received:%Y-%m-%d %H:%M}" in text.read_text(encoding="utf-8-sig")
    assert [p.name for p in (home / "var" / "archive").iterdir()] == [f"{received:%Y%m}"]

"""Scheduled jobs: jobs/*.toml as data, `exchange jobs`, once across nodes, archive retention."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from exchange.cli import cli
from exchange.errors import ConfigError
from exchange.schedule.jobs import archive_retention
from exchange.schedule.registry import JOBS
from exchange.schedule.scheduler import JobScheduler, latest_fire_time, run_recorded
from exchange.schedule.spec import load_jobs
from exchange.store.models import JobRun
from tests.conftest import ADD_HEADERS, add_row, make_id, make_workbook


def run(home: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)


def test_jobs_list_shows_the_shipped_jobs_and_their_last_run(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    out = run(home, "jobs", "list").output
    assert "archive_retention\tcron 30 3 * * *\tenabled\tnever run" in out
    assert "rescan\tevery 180s\tenabled\tnever run" in out
    assert run(home, "jobs", "run", "rescan").exit_code == 0
    assert "rescan\tevery 180s\tenabled\tlast " in run(home, "jobs", "list").output


def test_rescan_by_hand_processes_a_file_no_event_announced(home, instance, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_workbook(instance.unit_inbox("1001") / "late.xlsx", ADD_HEADERS,
                  [add_row(make_id("19800101", "651"), "甲")], title="职工批量新增申报填写表")
    old = time.time() - 60
    os.utime(instance.unit_inbox("1001") / "late.xlsx", (old, old))
    result = run(home, "jobs", "run", "rescan")
    assert result.exit_code == 0
    assert result.output.strip() == "rescan: recovered 0, processed 1 unit file(s) and 0 centre file(s)"
    assert len(list(instance.unit_outbox("1001", "receipts").glob("*late*.json"))) == 1
    with db.session() as s:
        runs = s.scalars(select(JobRun)).all()
    assert [(r.job, r.fire_key[:7], r.outcome[:11]) for r in runs] == [("rescan", "manual-", "recovered 0")]


def test_archive_retention_deletes_only_old_archive_copies(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    old = instance.archive / "201001" / "1001" / "000001-old.xlsx"
    recent_month = instance.archive / f"{datetime.now():%Y%m}" / "1001"
    kept = recent_month / "000002-new.xlsx"
    preserved = recent_month / "000003-old-mtime.xlsx"   # a client kept its old mtime
    for path in (old, kept, preserved):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1024)
    ancient = time.time() - 5000 * 86400
    os.utime(old, (ancient, ancient))
    os.utime(preserved, (ancient, ancient))
    receipt = instance.unit_outbox("1001", "receipts") / "r.json"
    receipt.write_text("{}")
    os.utime(receipt, (ancient, ancient))
    result = run(home, "jobs", "run", "archive_retention")
    assert result.exit_code == 0
    assert "deleted 1 archived file(s)" in result.output and "older than 730 days" in result.output
    assert not old.exists() and not old.parent.parent.exists()
    assert kept.exists() and preserved.exists() and receipt.exists()


def test_archive_retention_prunes_old_finished_job_runs(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now().replace(microsecond=0)
    with db.session() as s:
        s.add_all([
            JobRun(job="rescan", fire_key="old", started_at=now - timedelta(days=200),
                   finished_at=now - timedelta(days=200), outcome="ok"),
            JobRun(job="rescan", fire_key="recent", started_at=now - timedelta(days=10),
                   finished_at=now - timedelta(days=10), outcome="ok"),
            # Never finished (its node died): the scheduler resumes or closes it, never pruned.
            JobRun(job="submit_batches", fire_key="stuck", started_at=now - timedelta(days=300)),
        ])
    assert "would delete 1 job run(s) finished more than 90 days ago" in archive_retention(
        instance, db, dry_run=True)
    result = run(home, "jobs", "run", "archive_retention")        # [archive] job_history_days = 90
    assert result.exit_code == 0 and "deleted 1 job run(s)" in result.output, result.output
    assert "deleted 1 job run(s) finished more than 5 days ago" in archive_retention(
        instance, db, job_history_days=5)
    with db.session() as s:
        left = sorted(r.fire_key for r in s.scalars(select(JobRun)) if not r.fire_key.startswith("manual"))
    assert left == ["stuck"]


def test_unknown_job_name_is_an_error(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(cli, ["--home", str(home), "jobs", "run", "nope"])
    assert result.exit_code != 0 and "no job 'nope'" in str(result.exception)


@pytest.mark.parametrize("body,key", [
    ('name = "no_such_job"\ntrigger = "interval"\nseconds = 60\n', "name"),
    ('name = "rescan"\ntrigger = "hourly"\n', "trigger"),
    ('name = "rescan"\ntrigger = "cron"\ncron = "61 * * * *"\n', "cron"),
    ('name = "rescan"\ntrigger = "interval"\n', "seconds"),
    ('name = "rescan"\ntrigger = "interval"\nseconds = -5\n', "seconds"),
    ('name = "rescan"\ntrigger = "interval"\nseconds = 5\nevery = 3\n', "every"),
    ('name = "rescan"\ntrigger = "interval"\nseconds = 5\noptions = 3\n', "options"),
])
def test_a_bad_job_file_names_the_file_and_key(home, instance, body: str, key: str) -> None:  # type: ignore[no-untyped-def]
    (instance.jobs_dir / "broken.toml").write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_jobs(instance)
    assert str(caught.value).startswith(f"{instance.jobs_dir / 'broken.toml'}: {key}:")


def test_serve_refuses_to_start_with_an_unregistered_job(tmp_path: Path) -> None:
    from tests.flows.serving import make_instance

    instance = make_instance(tmp_path / "inst")
    (instance.jobs_dir / "nightly.toml").write_text(
        'name = "submit_everything"\ntrigger = "cron"\ncron = "0 2 * * *"\n', encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", "from exchange.cli import main; main()",
                           "--home", str(instance.home), "serve"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2
    assert f"{instance.jobs_dir / 'nightly.toml'}: name: no job registered as 'submit_everything'" in done.stderr
    assert not (instance.var / "ssh_host_ed25519_key").exists()     # nothing started


def test_a_firing_runs_once_across_nodes(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    calls: list[str] = []
    assert run_recorded(db, "rescan", "2026-05-01T02:00:00+08:00", lambda: calls.append("a") or "ok") == "ok"
    assert run_recorded(db, "rescan", "2026-05-01T02:00:00+08:00", lambda: calls.append("b")) is None
    assert calls == ["a"]
    # Two nodes started at different moments compute the same interval fire times.
    tz = ZoneInfo("Asia/Shanghai")
    spec = next(s for s in load_jobs(instance) if s.id == "rescan")
    now = datetime(2026, 5, 1, 10, 7, 30, tzinfo=tz)
    a = latest_fire_time(spec.trigger(tz), now, timedelta(hours=1))
    b = latest_fire_time(spec.trigger(tz), now + timedelta(seconds=20), timedelta(hours=1))
    assert a == b == datetime(2026, 5, 1, 10, 6, 0, tzinfo=tz)


def test_scheduler_fires_jobs_in_the_configured_time_zone(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    fired: list[str] = []
    JOBS["test_tick"] = lambda inst, database, **options: fired.append(options["word"]) or "ticked"
    try:
        (instance.jobs_dir / "tick.toml").write_text(
            'name = "test_tick"\ntrigger = "interval"\nseconds = 1\n[options]\nword = "hi"\n',
            encoding="utf-8")
        nodes = [JobScheduler(instance, db, load_jobs(instance)) for _ in range(2)]
        for node in nodes:
            node.start()
        deadline = time.monotonic() + 10
        while len(fired) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        for node in nodes:
            node.shutdown()
        assert str(nodes[0].tz) == "Asia/Shanghai"
        with db.session() as s:
            keys = [r.fire_key for r in s.scalars(select(JobRun).where(JobRun.job == "tick"))]
        assert fired and len(keys) == len(set(keys)) == len(fired)   # each firing ran on one node
    finally:
        del JOBS["test_tick"]


# A node that stops while running a job ------------------------------------------------------------
def _unfinished(db, job: str, key: str, node: str, lease_until: datetime | None) -> int:  # type: ignore[no-untyped-def]
    with db.session() as s:
        run = JobRun(job=job, fire_key=key, node=node, started_at=datetime.now().replace(microsecond=0),
                     lease_until=lease_until)
        s.add(run)
        s.flush()
        return run.id


def test_a_run_whose_node_died_is_run_again_once(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    """The nightly submission's node was killed mid-run: another node's scheduler runs that
    firing again, once however many schedulers look; a run by hand of the same dead process is
    closed (the resumed run did its work since it started), a live owner's run is left."""
    from exchange.schedule.scheduler import JOB_LEASE, resume_abandoned

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    from exchange.intake.claim import node_host

    dead = f"{node_host()}-{proc.pid}"
    alive_here = f"{node_host()}-{os.getppid()}"          # pytest's parent: alive, not us
    soon = datetime.now() + JOB_LEASE
    night = _unfinished(db, "submit_batches", "2026-05-01T02:00:00+08:00", dead, soon)
    manual = _unfinished(db, "submit_batches", "manual-2026-05-01T09:00:00", dead, soon)
    live = _unfinished(db, "monthly_rosters", "2026-05-01T02:00:00+08:00", alive_here, soon)
    calls: list[str] = []
    jobs = {"submit_batches": lambda: calls.append("submit") or "submitted 3 batches",
            "monthly_rosters": lambda: calls.append("rosters") or "rosters"}
    assert resume_abandoned(db, jobs) == [f"resumed after node {dead} stopped: submitted 3 batches"]
    assert resume_abandoned(db, jobs) == []                 # a second node finds nothing left
    assert calls == ["submit"]
    with db.session() as s:
        rows = {r.id: r for r in s.scalars(select(JobRun))}
        assert rows[night].finished_at is not None and rows[night].outcome.startswith("resumed after")
        assert rows[night].node != dead
        assert rows[manual].outcome == f"abandoned: node {dead} stopped, and the job has run since"
        assert rows[live].finished_at is None


def test_another_hosts_run_is_taken_only_once_its_lease_has_run_out(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    from exchange.schedule.scheduler import resume_abandoned

    fresh = _unfinished(db, "centre_digest", "2026-05-01T23:50:00+08:00", "elsewhere-4242",
                        datetime.now() + timedelta(minutes=3))
    calls: list[str] = []
    jobs = {"centre_digest": lambda: calls.append("digest") or "digest written"}
    assert resume_abandoned(db, jobs) == [] and calls == []
    with db.session() as s:
        s.get(JobRun, fresh).lease_until = datetime.now() - timedelta(seconds=1)
    assert resume_abandoned(db, jobs) == ["resumed after node elsewhere-4242 stopped: digest written"]


def test_a_run_superseded_by_a_later_firing_is_closed_not_run(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    from exchange.schedule.scheduler import resume_abandoned

    old = _unfinished(db, "centre_digest", "2026-05-01T23:50:00+08:00", "elsewhere-4242",
                      datetime.now() - timedelta(hours=20))
    assert run_recorded(db, "centre_digest", "2026-05-02T23:50:00+08:00", lambda: "digest written") \
        == "digest written"
    calls: list[str] = []
    assert resume_abandoned(db, {"centre_digest": lambda: calls.append("x") or "x"}) == []
    assert calls == []
    with db.session() as s:
        closed = s.get(JobRun, old)
        assert closed.finished_at is not None
        assert closed.outcome == "abandoned: node elsewhere-4242 stopped, and the job has run since"


def test_a_running_job_renews_its_lease(home, instance, db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import exchange.schedule.scheduler as sched

    monkeypatch.setattr(sched, "RENEW_SECONDS", 0.05)
    monkeypatch.setattr(sched, "JOB_LEASE", timedelta(seconds=30))
    seen: list[datetime] = []

    def slow() -> str:
        with db.session() as s:
            seen.append(s.scalars(select(JobRun)).one().lease_until)
        time.sleep(1.3)
        with db.session() as s:
            seen.append(s.scalars(select(JobRun)).one().lease_until)
        return "slow done"

    assert run_recorded(db, "rescan", "2026-05-01T02:03:00+08:00", slow) == "slow done"
    assert seen[1] > seen[0]                                # renewed while it ran


def test_a_scheduler_resumes_a_dead_nodes_run_when_it_starts(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    from exchange.intake.claim import node_host

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    ran: list[str] = []
    JOBS["test_nightly"] = lambda inst, database, **options: ran.append("ran") or "nightly done"
    try:
        (instance.jobs_dir / "nightly.toml").write_text(
            'name = "test_nightly"\ntrigger = "cron"\ncron = "0 2 * * *"\n', encoding="utf-8")
        run_id = _unfinished(db, "nightly", "2026-05-01T02:00:00+08:00", f"{node_host()}-{proc.pid}",
                             datetime.now() + timedelta(minutes=5))
        node = JobScheduler(instance, db, load_jobs(instance))
        node.start()
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            time.sleep(0.05)
        node.shutdown()
        assert ran == ["ran"]
        with db.session() as s:
            assert s.get(JobRun, run_id).outcome.endswith("stopped: nightly done")
    finally:
        del JOBS["test_nightly"]


def test_a_job_file_edited_between_two_loads_is_read_again(home, instance) -> None:  # type: ignore[no-untyped-def]
    """load_jobs keeps what it parsed (every receipt names the next submission): an edit and a
    new file are seen at the next load; a broken edit is refused."""
    path = instance.jobs_dir / "submit_batches.toml"
    first = {s.id: s for s in load_jobs(instance)}
    assert first["submit_batches"].enabled and "extra" not in first
    text = path.read_text(encoding="utf-8")
    edited = text.replace("enabled = true", "enabled = false") if "enabled = true" in text \
        else text + "\nenabled = false\n"
    path.write_text(edited, encoding="utf-8")
    (instance.jobs_dir / "extra.toml").write_text(
        'name = "rescan"\ntrigger = "interval"\nseconds = 60\n', encoding="utf-8")
    again = {s.id: s for s in load_jobs(instance)}
    assert not again["submit_batches"].enabled and again["extra"].every == timedelta(seconds=60)
    assert again["rescan"] is first["rescan"]          # an unchanged file is not parsed again
    path.write_text(edited.replace("enabled = false", "enabled = maybe"), encoding="utf-8")
    with pytest.raises(ConfigError):
        load_jobs(instance)


def test_a_killed_run_by_hand_is_resumed_and_shown_abandoned_meanwhile(home, instance, db
                                                                       ) -> None:  # type: ignore[no-untyped-def]
    """`exchange jobs run submit_batches` killed (SIGKILL, the machine lost): its row stayed
    "running" for ever and its batches had no review workbook until the next night. `jobs list`
    now says its process ended, and a service's scheduler runs it again; a run by hand of a job
    no scheduler here runs is closed as abandoned."""
    from exchange.schedule.scheduler import JOB_LEASE, resume_abandoned

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    from exchange.intake.claim import node_host

    dead = f"{node_host()}-{proc.pid}"
    soon = datetime.now() + JOB_LEASE
    killed = _unfinished(db, "submit_batches", "manual-2026-05-01T09:00:00", dead, soon)
    other = _unfinished(db, "not_scheduled_here", "manual-2026-05-01T09:01:00", dead, soon)
    listed = CliRunner().invoke(cli, ["--home", str(home), "jobs", "list"], catch_exceptions=False).output
    [line] = [x for x in listed.splitlines() if x.startswith("submit_batches")]
    assert line.endswith("abandoned: its process ended"), line
    calls: list[str] = []
    jobs = {"submit_batches": lambda: calls.append("submit") or "submitted 1 declaration(s) in 1 batch(es)"}
    assert resume_abandoned(db, jobs) == [f"resumed after node {dead} stopped: submitted 1 declaration(s) "
                                          f"in 1 batch(es)"]
    assert calls == ["submit"] and resume_abandoned(db, jobs) == []
    with db.session() as s:
        assert s.get(JobRun, killed).finished_at is not None
        closed = s.get(JobRun, other)
        assert closed.outcome == f"abandoned: the process that ran it by hand ({dead}) ended before it finished"


def test_ctrl_c_on_a_run_by_hand_closes_it_as_interrupted(home, instance, db) -> None:  # type: ignore[no-untyped-def]
    """The operator stopped it: recorded so, never run again by a service."""
    from exchange.schedule.scheduler import abandoned_runs

    def stopped() -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_recorded(db, "submit_batches", "manual-2026-05-01T09:00:00", stopped)
    with db.session() as s:
        run = s.scalars(select(JobRun)).one()
        assert run.finished_at is not None and run.outcome == "interrupted (Ctrl-C)"
    assert abandoned_runs(db) == []

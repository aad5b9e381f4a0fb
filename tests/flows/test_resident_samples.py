"""The demo's community and school: every sample file is judged, in the order it must be."""
from __future__ import annotations

from exchange.intake.scan import process_inbox
from exchange.intake.subaccounts import process_sub_account_inboxes
from exchange.resident_samples import CLASS_LOGIN, COMMUNITY, SCHOOL, write_resident_samples


def test_resident_samples_show_every_kind(instance, db):  # type: ignore[no-untyped-def]
    files = write_resident_samples(instance, db, sub_account=True)
    assert [f.parent.name for f in files].count(f"@{CLASS_LOGIN}") == 1
    results = process_inbox(instance, db) + process_sub_account_inboxes(instance, db)
    seen = {(r.unit, r.kind) for r in results}
    assert seen == {(COMMUNITY, "household"), (COMMUNITY, "resident_add"), (COMMUNITY, "photo"),
                    (SCHOOL, "class_info"), (SCHOOL, "user_maintenance"), (SCHOOL, "resident_add"), (SCHOOL, "resident_suspend"),
                    (SCHOOL, "class_transfer"), (SCHOOL, "photo")}
    assert len(results) == len(files)
    assert all(r.status in ("accepted", "partial") for r in results), [(r.name, r.status) for r in results]
    # The department created without classes holds those its 院系 lists.
    from exchange.store.models import Account

    with db.session() as s:
        assert s.get(Account, f"{SCHOOL.lower()}-xiaoxue").scope == "2018-09,2024-01,2024-02"
    # Heads were registered before the residents under them were declared.
    enrol = next(r for r in results if (r.unit, r.kind) == (COMMUNITY, "resident_add"))
    assert enrol.counts.accepted == 3
    # Sent again: nothing new is imported.
    write_resident_samples(instance, db, sub_account=True)
    again = process_inbox(instance, db) + process_sub_account_inboxes(instance, db)
    assert sum(r.counts.accepted for r in again if r.kind != "photo") == 0

"""Intake's look for a file still being written (`scan.being_written`, a lease taken and given
back at once) must never end the process that looks. The kernel signals a lease's holder when
someone opens the file in that moment: SIGIO by default, whose default action ends the process.
An upload or a copy opening a visible inbox file for writing just then killed `serve` ("I/O
possible"); the suite's threads, two units judged at once, hit it in one full run of three."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

RACE = textwrap.dedent("""
    import sys, threading, time
    from pathlib import Path
    from exchange.intake.scan import being_written

    path = Path(sys.argv[1])
    path.write_bytes(b"x" * 1000)
    stop = time.monotonic() + 3.0

    def look() -> None:
        while time.monotonic() < stop:
            being_written(path)

    looker = threading.Thread(target=look)
    looker.start()
    opened = 0
    while time.monotonic() < stop:          # a writer opening the file again and again
        with path.open("r+b") as fh:
            fh.write(b"y")
        opened += 1
    looker.join()
    print(opened)
""")


def test_a_writer_opening_the_file_while_intake_looks_never_ends_the_process(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", RACE, str(tmp_path / "增员.xlsx")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-500:])
    assert int(done.stdout) > 1000             # the race was run, not skipped


def test_a_writer_is_still_seen_and_a_reader_is_not(tmp_path: Path) -> None:
    from exchange.intake.scan import being_written

    path = tmp_path / "增员.csv"
    path.write_bytes(b"a")
    with path.open("ab"):
        assert being_written(path)
    with path.open("rb"):                       # someone only reading it (a virus scanner)
        assert not being_written(path)
    assert not being_written(path)

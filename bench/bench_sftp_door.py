"""The SFTP door under a crowd (issue 15.5): `exchange serve` with the shipped [sftp] limits and
argon2 parameters, 200 strangers from 200 addresses: 100 holding idle handshakes, 100 sending wrong passwords (to a
real login and to unknown ones) from other loopback addresses; meanwhile a real unit logs in.
Prints serve's peak RSS (sampled every 50 ms, children included) and the unit's login time.

    PYTHONPATH=. python3 bench/bench_sftp_door.py [--strangers 200] [--seconds 20]
"""
from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import paramiko
import psutil
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from exchange.cli import cli  # noqa: E402
from tests.flows.serving import Served, make_instance  # noqa: E402


def rss_of(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> None:
    import logging
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)   # the strangers' own side
    parser = argparse.ArgumentParser()
    parser.add_argument("--strangers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        instance = make_instance(Path(tmp) / "inst", max_failures=1000)
        runner = CliRunner()
        for cmd in (["units", "add", "1001", "--name", "A", "--password", "Real-pass-1"],
                    ["units", "add", "1002", "--name", "B", "--password", "Other-pass-2"]):
            assert runner.invoke(cli, ["--home", str(instance.home), *cmd]).exit_code == 0
        served = Served(instance).start()
        proc = psutil.Process(served.proc.pid)  # type: ignore[union-attr]
        port, stop, peak = served.port, threading.Event(), [rss_of(proc)]
        idle_at_start = peak[0]

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_of(proc))
                time.sleep(0.05)

        def idle(i: int) -> None:
            source = f"127.0.0.{10 + i % 100}"
            while not stop.is_set():
                try:
                    s = socket.create_connection(("127.0.0.1", port), 5, (source, 0))
                    s.recv(100)              # the banner, then nothing: an idle handshake
                    s.settimeout(1)
                    while not stop.is_set():
                        try:
                            if s.recv(100) == b"":
                                break
                        except socket.timeout:
                            continue
                    s.close()
                except OSError:
                    time.sleep(0.2)

        attempts = [0]

        def bogus(i: int) -> None:
            source = f"127.0.1.{10 + i % 100}"
            while not stop.is_set():
                try:
                    sock = socket.create_connection(("127.0.0.1", port), 5, (source, 0))
                    t = paramiko.Transport(sock)
                    t.connect(username="1002" if i % 2 else f"nobody{i}", password=f"guess{i}")
                except (paramiko.SSHException, OSError, EOFError):
                    attempts[0] += 1
                finally:
                    try:
                        t.close()
                    except Exception:
                        pass
        threads = [threading.Thread(target=sample, daemon=True)]
        half = args.strangers // 2
        threads += [threading.Thread(target=idle, args=(i,), daemon=True) for i in range(half)]
        threads += [threading.Thread(target=bogus, args=(i,), daemon=True) for i in range(half)]
        for t in threads:
            t.start()
        time.sleep(args.seconds / 2)
        logins = []
        for _ in range(3):
            started = time.monotonic()
            try:
                client = served.sftp("1001", "Real-pass-1")
            except Exception:
                print("\n".join(served.output().splitlines()[-5:]))
                raise
            client.listdir("/inbox")
            logins.append(time.monotonic() - started)
            client.get_channel().get_transport().close()
        time.sleep(args.seconds / 2)
        stop.set()
        served.stop()
        print(f"strangers: {half} idle handshakes + {half} wrong-password "
              f"loops for {args.seconds:.0f} s ({attempts[0]} attempts refused)")
        print(f"serve RSS: {idle_at_start / 2**20:.0f} MB at rest, peak {peak[0] / 2**20:.0f} MB")
        print("real unit logins meanwhile: " + ", ".join(f"{x:.2f} s" for x in logins))


if __name__ == "__main__":
    main()

"""Pickled messages between a process and a helper process of its own, over the helper's pipes.

Each message is framed (length, CRC-32) and written with os.write in a loop: a BufferedWriter
written from a thread lost bytes whenever the helper was stopped and continued (Ctrl-Z and fg, a
debugger or py-spy attaching: an interrupted write(2) to a pipe returns short). A frame that
does not check out raises, so a damaged stream is never taken for a shorter one.

Helper: exchange.outputs.error_book (writes a large error workbook beside the pipeline). Reading
untrusted files has its own boundary, exchange.read.sandbox, over multiprocessing's connections.
"""
from __future__ import annotations

import os
import pickle
import struct
import subprocess
import zlib
from typing import Any

FRAME = struct.Struct("<QI")           # a message's length and CRC-32, then the pickled message
FRAME_LIMIT = 1 << 30                  # a longer frame is a broken stream (a slice is ~30 MB)
HELPER_GRACE = 5.0                     # seconds a helper has to stop once told, then killed


def frame(item: Any) -> bytes:
    data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(data), zlib.crc32(data)) + data


def receive(stream: Any) -> Any:
    """The next message on `stream`. EOFError when the stream ends at or inside a frame,
    ValueError when a frame is oversized or damaged."""
    head = stream.read(FRAME.size)
    if len(head) != FRAME.size:
        raise EOFError("the stream ended" + (" mid-way" if head else ""))
    size, crc = FRAME.unpack(head)
    if size > FRAME_LIMIT:
        raise ValueError(f"frame of {size} bytes")
    data = stream.read(size)
    if len(data) != size or zlib.crc32(data) != crc:
        raise ValueError("frame damaged in transit")
    return pickle.loads(data)


def write_all(fd: int, data: bytes) -> None:
    """All of `data` to `fd`, however many short writes it takes."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def stop(helper: subprocess.Popen[bytes]) -> None:
    """Close a helper's pipes (a helper still writing stops at the closed pipe, one reading sees
    the end of its input) and wait for it; kill it if it has not stopped within HELPER_GRACE."""
    for pipe in (helper.stdin, helper.stdout):
        if pipe is not None:
            pipe.close()
    try:
        helper.wait(timeout=HELPER_GRACE)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.wait()

"""A render worker process: `python -m clarion.rendering.worker LIMITS_JSON`.

Started and fed by `clarion.rendering.pool`; reads request frames on stdin and
writes reply frames on stdout (see `clarion.rendering.protocol`). Its address
space is limited to `templates.worker_memory_mb`, so a template that allocates
too much fails with a MemoryError here instead of growing a server process.
It exits when stdin closes (the pool, or the process that owns it, is gone),
and by itself with `RECYCLED` when a render left it holding too much memory.
"""

import os
import resource
import signal
import sys
from typing import BinaryIO

import msgspec

from clarion.rendering.protocol import (
    HEADER,
    RECYCLED,
    CheckReply,
    CheckTemplate,
    RenderBatch,
    RenderLimits,
    RenderReply,
    Request,
    frame,
)
from clarion.rendering.sandbox import TIME_LIMIT, RenderError, SandboxRenderer

NICENESS = 10
# A worker whose resident memory grew past this share of its limit is replaced.
_RECYCLE_SHARE = 0.5


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _serve(renderer: SandboxRenderer, requests: BinaryIO, replies: BinaryIO, memory_bytes: int) -> int:
    decoder = msgspec.json.Decoder(Request)
    replies.write(HEADER.pack(0))
    replies.flush()
    while True:
        header = _read_exactly(requests, HEADER.size)
        payload = None if header is None else _read_exactly(requests, HEADER.unpack(header)[0])
        if payload is None:
            return 0
        request = decoder.decode(payload)
        if isinstance(request, CheckTemplate):
            replies.write(frame(CheckReply(renderer.compile_errors(request.template))))
        else:
            _render_batch(renderer, request, replies)
        replies.flush()
        if memory_bytes and _resident_bytes() > memory_bytes * _RECYCLE_SHARE:
            return RECYCLED


def _render_batch(renderer: SandboxRenderer, batch: RenderBatch, replies: BinaryIO) -> None:
    # Jobs of one batch differ only by recipient: a template that ran out of time for
    # one of them fails the others at once instead of spinning again for each.
    out_of_time: dict[int, str] = {}
    for job in batch.jobs:
        error = out_of_time.get(job.template)
        if error is None:
            context = dict(batch.context)
            context["recipient"] = job.recipient
            result = renderer.render(batch.templates[job.template], context, frozenset(job.parts))
            if not isinstance(result, RenderError):
                replies.write(frame(RenderReply(message=result)))
                replies.flush()
                continue
            error = str(result)
            if TIME_LIMIT in error:
                out_of_time[job.template] = error
        replies.write(frame(RenderReply(error=error)))
        replies.flush()


def main() -> int:
    limits = msgspec.json.decode(sys.argv[1], type=RenderLimits)
    memory_bytes = limits.worker_memory_mb * 1024 * 1024
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owning process decides when to stop
    os.nice(NICENESS)  # a spinning template yields the CPU to the processes serving requests
    # Replies get a private copy of stdout; anything else written to fd 1 goes to stderr.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return _serve(SandboxRenderer(limits), sys.stdin.buffer, replies, memory_bytes)


if __name__ == "__main__":
    sys.exit(main())

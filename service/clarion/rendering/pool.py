"""A pool of render worker processes, shared fairly between organizations.

Every compile and render of a tenant's template happens in a worker process
(`clarion.rendering.worker`), never in the process that serves requests or
sends messages. The pool stops what the sandbox's own guards cannot: a job
that has not answered `render_timeout_s` plus a small margin after it started
gets its worker killed and replaced; it fails alone (`render_error`, naming
the limit), and the rest of its batch goes on in the new worker.

Fair share: with more than one worker, one organization holds at most all
workers but one, so another organization's render never waits behind a
runaway template; waiting organizations are served in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections import Counter, deque
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from clarion.rendering.protocol import (
    HEADER,
    RECYCLED,
    CheckReply,
    CheckTemplate,
    RenderBatch,
    RenderJobSpec,
    RenderLimits,
    RenderReply,
    TemplateParts,
    frame,
)
from clarion.rendering.sandbox import PARTS, time_limit_message

logger = logging.getLogger(__name__)

KILL_MARGIN_S = 0.5
"""How long past its deadline a job may take before its worker is killed."""
START_TIMEOUT_S = 30.0
"""How long a new worker may take to import and say it is ready."""

_reply_decoder = msgspec.json.Decoder(RenderReply)
_check_decoder = msgspec.json.Decoder(CheckReply)


class WorkerLost(Exception):
    """The worker process ended or overran while a request was in hand."""


class RenderWorker:
    """One worker process and the pipes to it; started on first use, restarted after it ends."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self._process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._job_timeout = limits.render_timeout_s + KILL_MARGIN_S

    async def _started(self) -> asyncio.subprocess.Process:
        if self._process is not None:
            if self._process.returncode is None:
                return self._process
            await self.kill()  # ended by itself: reap it and close its pipes
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "clarion.rendering.worker", msgspec.json.encode(self.limits).decode(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C meant for the server is not the worker's to act on
        )
        self._process = process
        self.starts += 1
        try:
            await self._read_frame(START_TIMEOUT_S)
        except WorkerLost:
            raise WorkerLost(f"render worker did not start (exit status {process.returncode})") from None
        return process

    async def _read_frame(self, timeout: float) -> bytes:
        process = self._process
        assert process is not None and process.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                header = await process.stdout.readexactly(HEADER.size)
                return await process.stdout.readexactly(HEADER.unpack(header)[0])
        except TimeoutError:
            await self.kill()
            raise
        except asyncio.IncompleteReadError:
            await _reap(process)
            raise WorkerLost(f"render worker ended (exit status {process.returncode})") from None

    async def _send(self, message: Any) -> None:
        process = await self._started()
        assert process.stdin is not None
        try:
            process.stdin.write(frame(message))
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            await _reap(process)
            raise WorkerLost(f"render worker ended (exit status {process.returncode})") from None

    async def kill(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.returncode is None:
                process.kill()
            await _reap(process)

    async def render(self, batch: RenderBatch) -> list[RenderReply]:
        """Render every job of `batch`, in order; a job that overran or crashed its worker is an error."""
        results: list[RenderReply | None] = [None] * len(batch.jobs)
        todo = list(range(len(batch.jobs)))
        while todo:
            round_jobs = [batch.jobs[index] for index in todo]
            answered = 0
            try:
                await self._send(RenderBatch(batch.templates, batch.context, round_jobs))
                for index in todo:
                    results[index] = _reply_decoder.decode(await self._read_frame(self._job_timeout))
                    answered += 1
            except (TimeoutError, WorkerLost) as exc:
                failed = todo[answered]
                recycled = isinstance(exc, WorkerLost) and answered == 0 and self._exited_by_itself()
                if not recycled:
                    job = batch.jobs[failed]
                    error = _failure(exc, job, batch.templates[job.template], self.limits)
                    logger.warning("render worker stopped: %s", error)
                    # the rest of the batch using the same template would only overrun again
                    for index in todo[answered:]:
                        if batch.jobs[index].template == batch.jobs[failed].template:
                            results[index] = RenderReply(error=error)
            except BaseException:
                await self.kill()  # cancelled mid-request: its replies can no longer be matched
                raise
            todo = [index for index in todo if results[index] is None]
        return [result for result in results if result is not None]

    def _exited_by_itself(self) -> bool:
        return self._process is not None and self._process.returncode == RECYCLED

    async def check(self, template: TemplateParts) -> list[str]:
        """What is wrong with `template`'s parts (compiled one by one, nothing rendered); [] if nothing."""
        errors: list[str] = []
        for part in PARTS:
            source = getattr(template, part)
            if source is not None:
                errors.extend(await self._check_part(part, TemplateParts(**{part: source})))
        return errors

    async def _check_part(self, part: str, template: TemplateParts) -> list[str]:
        for _ in range(2):  # once more if the worker had just recycled itself
            try:
                await self._send(CheckTemplate(template))
                return _check_decoder.decode(await self._read_frame(self._job_timeout)).errors
            except TimeoutError:
                return [f"{part}: template does not compile in time: {time_limit_message(self.limits.render_timeout_s)}"]
            except WorkerLost as exc:
                if not self._exited_by_itself():
                    return [f"{part}: {exc}"]
            except BaseException:
                await self.kill()
                raise
        return [f"{part}: the render worker keeps ending"]


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Wait for `process` to end and close its pipes (asyncio leaves the stdin socket open otherwise)."""
    await process.wait()
    if process.stdin is not None:
        process.stdin.close()
        with contextlib.suppress(ConnectionError):
            await process.stdin.wait_closed()


def _failure(exc: BaseException, job: RenderJobSpec, template: TemplateParts, limits: RenderLimits) -> str:
    rendered = [part for part in job.parts if getattr(template, part) is not None]
    part = rendered[0] if len(rendered) == 1 else "template"
    if isinstance(exc, TimeoutError):
        return f"{part}: {time_limit_message(limits.render_timeout_s)}"
    return f"{part}: {exc} (templates.worker_memory_mb = {limits.worker_memory_mb})"


class RenderPool:
    """`size` render workers, handed out fairly between tenants (organizations)."""

    def __init__(self, limits: RenderLimits, *, size: int) -> None:
        self.size = size
        self._idle = [RenderWorker(limits) for _ in range(size)]
        self._workers = list(self._idle)
        self._busy: Counter[str] = Counter()
        self._waiting: dict[str, deque[asyncio.Future[RenderWorker]]] = {}
        self._turns: deque[str] = deque()
        self._share = max(1, size - 1)
        self._closed = False

    @contextlib.asynccontextmanager
    async def worker_for(self, tenant: str) -> AsyncIterator[RenderWorker]:
        """A worker for `tenant`'s next request, held for the `async with` block."""
        worker = await self._acquire(tenant)
        try:
            yield worker
        finally:
            self._release(tenant, worker)

    async def render(self, tenant: str, batch: RenderBatch) -> list[RenderReply]:
        async with self.worker_for(tenant) as worker:
            return await worker.render(batch)

    async def check(self, tenant: str, template: TemplateParts) -> list[str]:
        async with self.worker_for(tenant) as worker:
            return await worker.check(template)

    async def _acquire(self, tenant: str) -> RenderWorker:
        if self._closed:
            raise RuntimeError("the render pool is closed")
        if self._idle and self._busy[tenant] < self._share and not self._waiting:
            self._busy[tenant] += 1
            return self._idle.pop()
        future: asyncio.Future[RenderWorker] = asyncio.get_running_loop().create_future()
        if tenant not in self._waiting:
            self._waiting[tenant] = deque()
            self._turns.append(tenant)
        self._waiting[tenant].append(future)
        self._hand_out()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._release(tenant, future.result())
            raise

    def _release(self, tenant: str, worker: RenderWorker) -> None:
        self._busy[tenant] -= 1
        if not self._busy[tenant]:
            del self._busy[tenant]
        self._idle.append(worker)
        self._hand_out()

    def _hand_out(self) -> None:
        """Give idle workers to waiting tenants, one tenant after the other, within each one's share."""
        skipped = 0
        while self._idle and self._turns and skipped < len(self._turns):
            tenant = self._turns[0]
            self._turns.rotate(-1)
            queue = self._waiting[tenant]
            while queue and queue[0].done():  # given up while waiting
                queue.popleft()
            if queue and self._busy[tenant] < self._share:
                self._busy[tenant] += 1
                queue.popleft().set_result(self._idle.pop())
                skipped = 0
            else:
                skipped += 1
            if not queue:
                del self._waiting[tenant]
                self._turns.remove(tenant)
                skipped = 0

    @property
    def worker_starts(self) -> int:
        """How many worker processes were started so far (replacements included)."""
        return sum(worker.starts for worker in self._workers)

    async def close(self) -> None:
        self._closed = True
        for worker in self._workers:
            await worker.kill()

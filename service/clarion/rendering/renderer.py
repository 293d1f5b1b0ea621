"""What the rest of Clarion calls to render or check templates: batches, off the event loop.

A batch is one call to one worker process: the context every message of it
shares is sent once, each message adds only its recipient.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clarion.rendering.pool import RenderPool
from clarion.rendering.protocol import RenderBatch, RenderedMessage, RenderJobSpec, RenderLimits, TemplateParts
from clarion.rendering.sandbox import PARTS, RenderError


@dataclass(frozen=True, slots=True)
class RenderJob:
    """One message to render: which parts of which template, for which recipient."""

    template: TemplateParts
    recipient: Mapping[str, Any]
    parts: frozenset[str] = frozenset(PARTS)


class TemplateRenderer:
    """Renders and checks templates in a pool of `workers` processes, within `limits`."""

    def __init__(self, limits: RenderLimits, *, workers: int) -> None:
        self.limits = limits
        self._pool = RenderPool(limits, size=workers)

    async def render_many(
        self, jobs: Sequence[RenderJob], *, context: Mapping[str, Any], tenant: str
    ) -> list[RenderedMessage | RenderError]:
        """Render `jobs` with `context` (plus each job's `recipient`), in order; a failed job is a
        RenderError in its place. `tenant` is whose work it is, for the pool's fair share."""
        if not jobs:
            return []
        templates: dict[TemplateParts, int] = {}
        specs = [
            RenderJobSpec(
                templates.setdefault(job.template, len(templates)),
                dict(job.recipient),
                tuple(part for part in PARTS if part in job.parts),
            )
            for job in jobs
        ]
        replies = await self._pool.render(tenant, RenderBatch(list(templates), dict(context), specs))
        return [RenderError(reply.error) if reply.error is not None else reply.message or RenderedMessage()
                for reply in replies]

    async def check(self, template: TemplateParts, *, tenant: str) -> list[str]:
        """What is wrong with each part of `template` (too large, does not compile); [] if nothing."""
        return await self._pool.check(tenant, template)

    @property
    def worker_starts(self) -> int:
        return self._pool.worker_starts

    async def close(self) -> None:
        await self._pool.close()


def template_context(trigger_context: Mapping[str, Any], names: Mapping[str, Any]) -> dict[str, Any]:
    """What every message of an occurrence sees: the trigger context at top level, then `event`,
    `application`, `project`, `organization` and `occurrence` (from `names`), which win on
    clashes. Each message adds its `recipient`, which wins over both."""
    context = dict(trigger_context)
    context.update(names)
    return context

"""What the render pool and its worker processes say to each other.

Each message is a frame: a 4-byte big-endian length, then that many bytes of
JSON (JSON rather than MessagePack: a trigger context may hold integers of any
size). The worker answers a `RenderBatch` with one `RenderReply` per job, in
order and as each is done, so the pool can time every job on its own; it
answers a `CheckTemplate` with one `CheckReply`. An empty frame says the worker
is ready.
"""

import struct
from typing import Any

import msgspec

HEADER = struct.Struct(">I")
RECYCLED = 3
"""The exit status of a worker that left by itself between two requests (it grew too large)."""


class RenderLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The `[templates]` bounds a worker renders within."""

    max_bytes: int = 65536
    max_output_bytes: int = 262144
    render_timeout_s: float = 2.0
    worker_memory_mb: int = 256
    """The address-space limit of a worker process (0: none)."""


class TemplateParts(msgspec.Struct, frozen=True):
    """The sources of one template (any part may be missing)."""

    subject: str | None = None
    text: str | None = None
    html: str | None = None


class RenderedMessage(msgspec.Struct, frozen=True):
    subject: str | None = None
    text: str | None = None
    html: str | None = None


class RenderJobSpec(msgspec.Struct, frozen=True, array_like=True):
    """One message of a batch: `templates[template]` with the batch context plus `recipient`."""

    template: int
    recipient: dict[str, Any]
    parts: tuple[str, ...]


class RenderBatch(msgspec.Struct, frozen=True, tag="render"):
    templates: list[TemplateParts]
    context: dict[str, Any]
    """What every job of the batch sees; each job adds its own `recipient`."""
    jobs: list[RenderJobSpec]


class CheckTemplate(msgspec.Struct, frozen=True, tag="check"):
    """Compile every part of `template` (nothing is rendered)."""

    template: TemplateParts


Request = RenderBatch | CheckTemplate


class RenderReply(msgspec.Struct, frozen=True, array_like=True):
    message: RenderedMessage | None = None
    error: str | None = None


class CheckReply(msgspec.Struct, frozen=True):
    errors: list[str]


def frame(message: Any) -> bytes:
    payload = msgspec.json.encode(message)
    return HEADER.pack(len(payload)) + payload

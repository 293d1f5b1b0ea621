"""The template sandbox (SPEC §6): Jinja2, bounded from the inside.

Templates run in `ImmutableSandboxedEnvironment` (no attribute starting with `_`,
no mutation of data, no access to Python internals); HTML parts autoescape,
subject and text do not. An access the sandbox refuses is an error, never empty
output.

This module runs inside a render worker process (`clarion.rendering.worker`),
never on the event loop. The guards (`clarion.rendering.guards`) stop most runaway templates cheaply,
without losing the worker and its cache of compiled templates:

* every loop iteration, call, attribute or item access, and intercepted
  operator checks the render's deadline (`templates.render_timeout_s`);
* every piece of output, including output captured by `{% set %}` blocks and
  macros, is counted against a work budget, and the final output against
  `templates.max_output_bytes`;
* operations that can blow up in a single step (`*`, `**`, `%` and
  `format` with huge widths, `center`/`ljust`/`replace`/`join`/... on strings)
  are checked *before* they run.

What they miss (Jinja folds constant expressions at compile time, outside any
render; a C call can run long in one step) the pool stops from the outside: it
kills the worker when a job overruns its deadline, and the worker's address
space is limited.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SecurityError
from markupsafe import Markup

from clarion.rendering.guards import (
    TIME_LIMIT,
    Budget,
    GuardedSandbox,
    RenderLimitExceeded,
    set_budget,
    time_limit_message,
)
from clarion.rendering.protocol import RenderedMessage, RenderLimits, TemplateParts

__all__ = ["PARTS", "TIME_LIMIT", "RenderError", "SandboxRenderer", "time_limit_message"]

PARTS = ("subject", "text", "html")
_MAX_ERROR_CHARS = 500


class RenderError(Exception):
    """A template could not be rendered; the message says which part and why."""


# --- the renderer ---------------------------------------------------------------------

# `<function str.format_map at 0x7f...>`, `<jinja2.utils.Joiner object at 0x7f...>`,
# `<class 'jinja2.utils.Cycler'>`: an object's repr shows the process's insides.
_PYTHON_OBJECT = re.compile(r" at 0x[0-9a-fA-F]{4,}>|<class '[\w.]+'>")


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _error_of(part: str, exc: BaseException, limits: RenderLimits) -> RenderError:
    if isinstance(exc, MemoryError):
        return RenderError(f"{part}: memory limit exceeded (templates.worker_memory_mb = {limits.worker_memory_mb})")
    if isinstance(exc, RenderLimitExceeded):
        return RenderError(f"{part}: {exc}")
    if isinstance(exc, SecurityError):
        return RenderError(f"{part}: sandbox: {_short(exc)}")
    if isinstance(exc, RecursionError):
        return RenderError(f"{part}: RecursionError")
    # a template can raise nearly anything (TemplateError, TypeError, ValueError, ...)
    return RenderError(f"{part}: {type(exc).__name__}: {_short(exc)}")


class SandboxRenderer:
    """Compiles and renders templates in the calling thread, within `limits`.

    Compiled templates are cached by source. Only a render worker process
    (`clarion.rendering.worker`) runs this on tenants' templates: what the
    guards cannot stop from the inside, the pool stops by killing the process.
    """

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self._plain = GuardedSandbox(autoescape=False)
        self._html = GuardedSandbox(autoescape=True)
        self._compiled = functools.lru_cache(maxsize=512)(self._compile)

    def _compile(self, source: str, html: bool) -> Any:
        return (self._html if html else self._plain).compile_guarded(source)

    def _new_budget(self) -> Budget:
        return Budget(self.limits.render_timeout_s, self.limits.max_output_bytes)

    def _check_size(self, part: str, source: str) -> None:
        if len(source.encode()) > self.limits.max_bytes:
            raise RenderError(f"{part}: template is larger than templates.max_bytes ({self.limits.max_bytes})")

    def compile_errors(self, template: TemplateParts) -> list[str]:
        """What is wrong with each part of `template` (too large, does not compile); [] if nothing."""
        errors = []
        for part in PARTS:
            source = getattr(template, part)
            if source is None:
                continue
            set_budget(self._new_budget())
            try:
                self._check_size(part, source)
                self._compiled(source, part == "html")
            except RenderError as exc:
                errors.append(str(exc))
            except TemplateError as exc:
                line = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
                errors.append(f"{part}: template does not compile{line}: {exc.message or exc}")
            except Exception as exc:  # constant folding at compile time can raise anything
                errors.append(str(_error_of(part, exc, self.limits)))
            finally:
                set_budget(None)
        return errors

    def render_part(self, part: str, source: str, context: Mapping[str, Any], budget: Budget) -> str:
        """Render one part within `budget` (shared by all parts of one message); raises RenderError."""
        self._check_size(part, source)
        set_budget(budget)
        try:
            output = self._compiled(source, part == "html").render(context)
        except Exception as exc:
            raise _error_of(part, exc, self.limits) from None
        finally:
            set_budget(None)
        if time.monotonic() > budget.deadline:
            raise RenderError(f"{part}: {time_limit_message(budget.timeout_s)}")
        if len(output.encode()) > self.limits.max_output_bytes:
            raise RenderError(
                f"{part}: output is larger than templates.max_output_bytes ({self.limits.max_output_bytes})"
            )
        if _PYTHON_OBJECT.search(output):
            raise RenderError(f"{part}: output shows a Python object instead of a value")
        return str(output) if isinstance(output, Markup) else output

    def render(
        self, template: TemplateParts, context: Mapping[str, Any], parts: frozenset[str] = frozenset(PARTS)
    ) -> RenderedMessage | RenderError:
        """Render the wanted parts of `template`; all of them share one time budget."""
        budget = self._new_budget()
        rendered: dict[str, str | None] = {}
        try:
            for part in PARTS:
                source = getattr(template, part)
                rendered[part] = (
                    self.render_part(part, source, context, budget)
                    if source is not None and part in parts
                    else None
                )
        except RenderError as exc:
            return exc
        return RenderedMessage(**rendered)

"""The guards of the template sandbox: a time and work budget, checked from inside the template.

The parsed template is rewritten so that every loop and every piece of output
is checked (`_Guards`), and `GuardedSandbox` checks calls, attribute and item
access and operators; single-step blow-ups are refused before they run. See
`clarion.rendering.sandbox` for what this cannot stop and who stops it then.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import filters as jinja_filters
from jinja2 import nodes, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from clarion.rendering.protocol import RenderLimits

# How much output (captured blocks and macro output included) one part may
# produce while rendering, as a multiple of `max_output_bytes`.
WORK_BUDGET_FACTOR = 8
_MAX_POWER_BITS = 65536
_GUARD_ITER = "_clarion_guard_iter"
_GUARD_SIZE = "_clarion_guard_size"
_GUARD_LITERAL = "_clarion_guard_literal"
_FORMAT_NUMBER = re.compile(r"\d+")


class RenderLimitExceeded(Exception):
    """A template went over one of the `[templates]` bounds."""


# --- the per-render budget ------------------------------------------------------------


class Budget:
    __slots__ = ("timeout_s", "deadline", "output_limit", "work_limit", "produced")

    def __init__(self, timeout_s: float, output_limit: int) -> None:
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.output_limit = output_limit
        self.work_limit = output_limit * WORK_BUDGET_FACTOR
        self.produced = 0


_local = threading.local()


def set_budget(budget: Budget | None) -> None:
    """The budget the guards of renders in this thread check (None after a render)."""
    _local.budget = budget


def _budget() -> Budget:
    budget: Budget | None = getattr(_local, "budget", None)
    if budget is None:  # compile-time constant folding outside a render: default bounds
        limits = RenderLimits()
        budget = _local.budget = Budget(limits.render_timeout_s, limits.max_output_bytes)
    return budget


TIME_LIMIT = "render time limit exceeded"


def time_limit_message(timeout_s: float) -> str:
    return f"{TIME_LIMIT} (templates.render_timeout_s = {timeout_s:g})"


def _tick() -> None:
    budget = _budget()
    if time.monotonic() > budget.deadline:
        raise RenderLimitExceeded(time_limit_message(budget.timeout_s))


def _check_size(size: int, what: str = "value") -> None:
    if size > _budget().work_limit:
        raise RenderLimitExceeded(f"{what} too large ({size} characters)")


def _size_of(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


def _check_format_widths(template: Any) -> None:
    """Refuse `%0999999999d` / `{:>999999999}`: a width or precision larger than the budget."""
    if isinstance(template, str):
        for number in _FORMAT_NUMBER.findall(template):
            if len(number) > 9 or int(number) > _budget().work_limit:
                raise RenderLimitExceeded(f"format width {number} too large")


def _check_operator(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if isinstance(times, int) and _size_of(sequence):
                _check_size(_size_of(sequence) * max(times, 0), "repeated value")
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > _MAX_POWER_BITS:
                raise RenderLimitExceeded("number too large")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            if abs(left) > 1 and max(left.bit_length(), 1) * right > _MAX_POWER_BITS:
                raise RenderLimitExceeded("number too large")
        elif isinstance(right, (int, float)) and abs(right) > _MAX_POWER_BITS:
            raise RenderLimitExceeded("exponent too large")
    elif operator == "%":
        _check_format_widths(left)
        for argument in right if isinstance(right, tuple) else (right,):
            if isinstance(argument, int) and argument > _budget().work_limit:
                raise RenderLimitExceeded("format argument too large")


def _check_string_method(method: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """Estimate what a `str`/`bytes` method would build and refuse it if too large."""
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, (str, bytes)):
        return args
    name = getattr(method, "__name__", "")
    length = len(owner)
    if name in ("center", "ljust", "rjust", "zfill") and args and isinstance(args[0], int):
        _check_size(args[0], "padded string")
    elif name == "expandtabs":
        tabsize = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(tabsize, int):
            _check_size(length * max(tabsize, 1), "expanded string")
    elif name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        occurrences = length // max(len(old), 1) + 1
        _check_size(length + occurrences * len(new), "replaced string")
    elif name == "join" and args:
        items = list(args[0])
        _check_size(length * len(items) + sum(_size_of(item) for item in items), "joined string")
        return (items, *args[1:])
    elif name in ("format", "format_map"):
        _check_format_widths(owner)
    return args


# --- guarded filters: the stock ones, size-checked before they run ---------------------


def _guarded_filter(name: str, estimate: Callable[..., int]) -> Callable[..., Any]:
    """The stock filter `name`, refusing to run when `estimate(value, *args)` is over the budget."""
    original = jinja_filters.FILTERS[name]
    # Filters marked pass_eval_context / pass_environment get that object first.
    passes_first = getattr(original, "jinja_pass_arg", None) is not None

    @functools.wraps(original)  # keeps the pass_* marker
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        value_and_args = args[1:] if passes_first else args
        _check_size(estimate(*value_and_args, **kwargs), f"result of |{name}")
        return original(*args, **kwargs)

    return guarded


def _estimate_center(value: Any, width: int = 80, *_: Any, **__: Any) -> int:
    return max(len(str(value)), width if isinstance(width, int) else 0)


def _estimate_indent(value: Any, width: Any = 4, *_: Any, **__: Any) -> int:
    text = str(value)
    prefix = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    return len(text) + (text.count("\n") + 1) * max(prefix, 0)


def _estimate_wordwrap(value: Any, width: int = 79, break_long_words: bool = True, wrapstring: Any = None, *_: Any, **kwargs: Any) -> int:
    text = str(value)
    wrapstring = kwargs.get("wrapstring", wrapstring)
    if not isinstance(width, int) or width < 1:
        return len(text)
    return len(text) + (len(text) // width + 1) * len(wrapstring or "\n")


def _estimate_replace(value: Any, old: Any = "", new: Any = "", *_: Any, **__: Any) -> int:
    text = str(value)
    return len(text) + (len(text) // max(len(str(old)), 1) + 1) * len(str(new))


def _estimate_format(value: Any, *args: Any, **kwargs: Any) -> int:
    _check_format_widths(value)
    for argument in (*args, *kwargs.values()):
        if isinstance(argument, int) and argument > _budget().work_limit:
            raise RenderLimitExceeded("format argument too large")
    return len(str(value))


def _estimate_join(value: Any, d: Any = "", *_: Any, **__: Any) -> int:
    try:
        count = len(value)
    except TypeError:
        return 0  # an iterator: bounded by the loop and size guards that built it
    return count * len(str(d)) + sum(_size_of(item) for item in value)


# The guards take the context only so that Jinja's optimizer never folds them into
# constants at compile time: they must run on every render.


@pass_context
def _guard_iter(_: Any, iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


def _count_output(size: int) -> None:
    _tick()
    budget = _budget()
    budget.produced += size
    if budget.produced > budget.work_limit:
        raise RenderLimitExceeded("template produced too much output")


@pass_context
def _guard_size(_: Any, value: Any) -> Any:
    """Counts a piece of output (or a concatenation) against the render's work budget."""
    _count_output(len(value) if isinstance(value, str) else len(str(value)))
    return value


@pass_context
def _guard_literal(_: Any, size: int) -> str:
    """Counts the literal text of an output node (its length is known at compile time)."""
    _count_output(size)
    return ""


class _Guards(NodeTransformer):
    """Rewrites a parsed template so every loop and every piece of output is checked."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _GUARD_ITER, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        literal = sum(len(child.data) for child in node.nodes if isinstance(child, nodes.TemplateData))
        guarded: list[nodes.Expr] = []
        if literal:
            guarded.append(
                nodes.Filter(nodes.Const(literal), _GUARD_LITERAL, [], [], None, None, lineno=node.lineno)
            )
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                guarded.append(child)
            else:
                guarded.append(nodes.Filter(child, _GUARD_SIZE, [], [], None, None, lineno=child.lineno))
        node.nodes = guarded
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, _GUARD_SIZE, [], [], None, None, lineno=node.lineno)


class GuardedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus the time and size guards; unsafe access raises."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(autoescape=autoescape, auto_reload=False, cache_size=0)
        self.globals.pop("lipsum", None)  # lipsum(n=10**6) is an unbounded generator
        self.filters[_GUARD_ITER] = _guard_iter
        self.filters[_GUARD_SIZE] = _guard_size
        self.filters[_GUARD_LITERAL] = _guard_literal
        for name, estimate in (
            ("center", _estimate_center),
            ("indent", _estimate_indent),
            ("wordwrap", _estimate_wordwrap),
            ("replace", _estimate_replace),
            ("format", _estimate_format),
            ("join", _estimate_join),
        ):
            self.filters[name] = _guarded_filter(name, estimate)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        _check_operator(operator, left, right)
        result = super().call_binop(context, operator, left, right)
        _check_size(_size_of(result))
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _tick()
        args = _check_string_method(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(_size_of(result))
        return result

    def compile_guarded(self, source: str) -> Any:
        """Parse, add the guards, compile: the `from_string` of this environment."""
        tree = _Guards().visit(self.parse(source))
        code = self.compile(tree)
        return self.template_class.from_code(self, code, self.make_globals(None), None)

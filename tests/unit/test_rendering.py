"""Template rendering: the sandbox, autoescaping, and the size, output and time bounds."""

import asyncio
import threading
import time

import pytest

from clarion.dispatch.templates import RenderedMessage, RenderError, RenderJob, TemplateParts, TemplateRenderer, template_context
from clarion.settings import TemplateSettings

pytestmark = pytest.mark.no_db

CONTEXT = {"name": "<b>Ann</b>", "items": [1, 2, 3], "order": {"id": 7}}


@pytest.fixture
def renderer() -> TemplateRenderer:
    renderer = TemplateRenderer(TemplateSettings(max_bytes=2000, max_output_bytes=5000, render_timeout_s=0.3))
    yield renderer
    renderer.close()


def text_of(renderer: TemplateRenderer, source: str, context: dict | None = None) -> str | RenderError:
    result = renderer.render_sync(RenderJob(TemplateParts(text=source), CONTEXT if context is None else context))
    return result if isinstance(result, RenderError) else result.text  # type: ignore[return-value]


def error_of(renderer: TemplateRenderer, source: str) -> str:
    result = text_of(renderer, source)
    assert isinstance(result, RenderError), f"rendered {result!r}"
    return str(result)


def test_parts_render_and_only_html_is_autoescaped(renderer: TemplateRenderer) -> None:
    job = RenderJob(TemplateParts("Hi {{ name }}", "Hi {{ name }}", "<p>Hi {{ name }}</p>"), CONTEXT)
    assert renderer.render_sync(job) == RenderedMessage("Hi <b>Ann</b>", "Hi <b>Ann</b>", "<p>Hi &lt;b&gt;Ann&lt;/b&gt;</p>")


def test_only_the_wanted_parts_are_rendered(renderer: TemplateRenderer) -> None:
    job = RenderJob(TemplateParts("S", "T", "{{ broken("), CONTEXT, parts=frozenset({"text"}))
    assert renderer.render_sync(job) == RenderedMessage(None, "T", None)


def test_everyday_template_features_work(renderer: TemplateRenderer) -> None:
    source = "{% for i in items %}{{ loop.index }}:{{ i * 2 }} {% endfor %}{{ order.id }} {{ items|join(',') }} {{ '%03d'|format(order.id) }}"
    assert text_of(renderer, source) == "1:2 2:4 3:6 7 1,2,3 007"


def test_a_missing_variable_renders_empty(renderer: TemplateRenderer) -> None:
    assert text_of(renderer, "[{{ nope }}]") == "[]"
    assert "UndefinedError" in error_of(renderer, "{{ nope.deeper }}")


def test_syntax_errors_are_render_errors(renderer: TemplateRenderer) -> None:
    assert "TemplateSyntaxError" in error_of(renderer, "{% for %}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ ''|attr('__class__') }}",
        "{{ '{0.__class__}'.format('') }}",
        "{{ items.__len__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ namespace.__init__.__globals__['os'] }}",
    ],
)
def test_sandbox_escapes_are_errors_never_output(renderer: TemplateRenderer, source: str) -> None:
    assert "unsafe" in error_of(renderer, source)


def test_data_cannot_be_mutated(renderer: TemplateRenderer) -> None:
    assert "unsafe" in error_of(renderer, "{{ items.append(4) }}")
    assert CONTEXT["items"] == [1, 2, 3]


def test_template_size_is_bounded(renderer: TemplateRenderer) -> None:
    assert "max_bytes" in error_of(renderer, "x" * 2001)
    assert text_of(renderer, "x" * 2000) == "x" * 2000


def test_output_size_is_bounded(renderer: TemplateRenderer) -> None:
    assert "max_output_bytes" in error_of(renderer, "{% for i in range(600) %}0123456789{% endfor %}")
    assert "max_output_bytes" in error_of(renderer, "{{ name * 700 }}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 1000000000 }}",
        "{{ 'x'|center(1000000000) }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{% set a = 'a' * 4000 %}{{ a|replace('a', a) }}",
        "{% set a = 'a' * 4000 %}{{ a.replace('a', a) }}",
        "{{ range(100000)|join('x' * 4000) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ 9 ** (9 ** 9) }}",
        "{% set ns = namespace(s='x') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set x %}{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}{% endset %}{{ x|length }}",
        # literal text is counted on every render (Jinja must not fold the count into a constant)
        "{% set x %}{% for i in range(100000) %}" + "y" * 1000 + "{% endfor %}{% endset %}{{ x|length }}",
        "{% macro m() %}" + "z" * 1500 + "{% endmacro %}{% set x %}{% for i in range(100000) %}{{ m() }}{% endfor %}{% endset %}",
    ],
)
def test_blow_ups_are_refused_before_they_happen(renderer: TemplateRenderer, source: str) -> None:
    started = time.monotonic()
    message = error_of(renderer, source)
    assert "too large" in message or "too much output" in message, message
    assert time.monotonic() - started < 0.3


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{% set l = range(100000)|list %}{% for i in l %}{% for j in l %}{{ '' }}{% endfor %}{% endfor %}",
        "{% macro spin(n) %}{% for i in range(100000) %}{{ spin }}{% endfor %}{% endmacro %}"
        "{% for i in range(100000) %}{{ spin(1)|length }}{% endfor %}",
    ],
)
def test_render_time_is_bounded(renderer: TemplateRenderer, source: str) -> None:
    started = time.monotonic()
    assert "time limit" in error_of(renderer, source) or "too much output" in error_of(renderer, source)
    assert time.monotonic() - started < 2.0


def test_runaway_recursion_is_an_error(renderer: TemplateRenderer) -> None:
    assert "RecursionError" in error_of(renderer, "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}")


def test_lipsum_is_not_available(renderer: TemplateRenderer) -> None:
    assert "undefined" in error_of(renderer, "{{ lipsum(n=1000000) }}")


async def test_rendering_runs_off_the_event_loop(renderer: TemplateRenderer) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    job = RenderJob(TemplateParts(text="{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"), {})
    task = asyncio.create_task(ticker())
    original = renderer.render_sync
    renderer.render_sync = lambda job: seen.append(threading.get_ident()) or original(job)  # type: ignore[method-assign]
    results = await renderer.render_many([job, RenderJob(TemplateParts(text="ok"), {})])
    task.cancel()
    assert isinstance(results[0], RenderError) and results[1] == RenderedMessage(text="ok")
    assert seen and loop_thread not in seen
    assert ticks >= 10  # the loop kept running while the template spun for 0.3 s


def test_context_puts_names_over_the_trigger_context() -> None:
    context = template_context({"event": "spoofed", "x": 1}, {"event": {"slug": "e"}}, {"username": "u"})
    assert context == {"event": {"slug": "e"}, "x": 1, "recipient": {"username": "u"}}

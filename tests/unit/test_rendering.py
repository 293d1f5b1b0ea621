"""The template sandbox, in-process: autoescaping, and the size, output and time bounds.

What a render worker process runs; `tests/integration/test_render_isolation.py`
tests the pool of workers around it.
"""

import time

import pytest

from clarion.rendering import RenderedMessage, RenderError, RenderLimits, TemplateParts, template_context
from clarion.rendering.sandbox import SandboxRenderer

pytestmark = pytest.mark.no_db

CONTEXT = {"name": "<b>Ann</b>", "items": [1, 2, 3], "order": {"id": 7}}


@pytest.fixture
def renderer() -> SandboxRenderer:
    return SandboxRenderer(RenderLimits(max_bytes=2000, max_output_bytes=5000, render_timeout_s=0.3))


def text_of(renderer: SandboxRenderer, source: str, context: dict | None = None) -> str | RenderError:
    result = renderer.render(TemplateParts(text=source), CONTEXT if context is None else context)
    return result if isinstance(result, RenderError) else result.text  # type: ignore[return-value]


def error_of(renderer: SandboxRenderer, source: str) -> str:
    result = text_of(renderer, source)
    assert isinstance(result, RenderError), f"rendered {result!r}"
    return str(result)


def test_parts_render_and_only_html_is_autoescaped(renderer: SandboxRenderer) -> None:
    template = TemplateParts("Hi {{ name }}", "Hi {{ name }}", "<p>Hi {{ name }}</p>")
    assert renderer.render(template, CONTEXT) == RenderedMessage("Hi <b>Ann</b>", "Hi <b>Ann</b>", "<p>Hi &lt;b&gt;Ann&lt;/b&gt;</p>")


def test_only_the_wanted_parts_are_rendered(renderer: SandboxRenderer) -> None:
    template = TemplateParts("S", "T", "{{ broken(")
    assert renderer.render(template, CONTEXT, frozenset({"text"})) == RenderedMessage(None, "T", None)


def test_everyday_template_features_work(renderer: SandboxRenderer) -> None:
    source = "{% for i in items %}{{ loop.index }}:{{ i * 2 }} {% endfor %}{{ order.id }} {{ items|join(',') }} {{ '%03d'|format(order.id) }}"
    assert text_of(renderer, source) == "1:2 2:4 3:6 7 1,2,3 007"


def test_a_missing_variable_renders_empty(renderer: SandboxRenderer) -> None:
    assert text_of(renderer, "[{{ nope }}]") == "[]"
    assert "UndefinedError" in error_of(renderer, "{{ nope.deeper }}")


def test_syntax_errors_are_render_errors(renderer: SandboxRenderer) -> None:
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
def test_sandbox_escapes_are_errors_never_output(renderer: SandboxRenderer, source: str) -> None:
    assert "unsafe" in error_of(renderer, source)


def test_data_cannot_be_mutated(renderer: SandboxRenderer) -> None:
    assert "unsafe" in error_of(renderer, "{{ items.append(4) }}")
    assert CONTEXT["items"] == [1, 2, 3]


def test_template_size_is_bounded(renderer: SandboxRenderer) -> None:
    assert "max_bytes" in error_of(renderer, "x" * 2001)
    assert text_of(renderer, "x" * 2000) == "x" * 2000


def test_output_size_is_bounded(renderer: SandboxRenderer) -> None:
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
def test_blow_ups_are_refused_before_they_happen(renderer: SandboxRenderer, source: str) -> None:
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
def test_render_time_is_bounded(renderer: SandboxRenderer, source: str) -> None:
    started = time.monotonic()
    assert "time limit" in error_of(renderer, source) or "too much output" in error_of(renderer, source)
    assert time.monotonic() - started < 2.0


def test_runaway_recursion_is_an_error(renderer: SandboxRenderer) -> None:
    assert "RecursionError" in error_of(renderer, "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}")


def test_lipsum_is_not_available(renderer: SandboxRenderer) -> None:
    assert "undefined" in error_of(renderer, "{{ lipsum(n=1000000) }}")


@pytest.mark.parametrize(
    "source",
    ["{{ ''.format_map }}", "{{ joiner() }}", "{{ cycler|string }}", "{{ [range] }}", "{{ 'x' ~ namespace }}"],
)
def test_python_objects_are_never_shown(renderer: SandboxRenderer, source: str) -> None:
    assert "shows a Python object" in error_of(renderer, source)


def test_compile_errors_name_the_part(renderer: SandboxRenderer) -> None:
    template = TemplateParts(subject="ok {{ x }}", text="{% for %}", html="x" * 2001)
    errors = renderer.compile_errors(template)
    assert errors[0].startswith("text: template does not compile (line 1): ")
    assert errors[1] == "html: template is larger than templates.max_bytes (2000)"
    assert len(errors) == 2


def test_context_puts_names_over_the_trigger_context() -> None:
    context = template_context({"event": "spoofed", "x": 1}, {"event": {"slug": "e"}})
    assert context == {"event": {"slug": "e"}, "x": 1}

"""Rendering tenants' templates: a Jinja2 sandbox run in a pool of worker processes."""

from clarion.rendering.protocol import RenderedMessage, RenderLimits, TemplateParts
from clarion.rendering.renderer import RenderJob, TemplateRenderer, template_context
from clarion.rendering.sandbox import PARTS, RenderError

__all__ = [
    "PARTS",
    "RenderError",
    "RenderJob",
    "RenderLimits",
    "RenderedMessage",
    "TemplateParts",
    "TemplateRenderer",
    "template_context",
]

"""The browsable API docs at `/schema/swagger` (and `/schema`), with nothing loaded from the internet.

Litestar's Swagger UI page loads its scripts, stylesheet and icon from a CDN
by default, so it renders nothing on a machine without internet access. Here
they come from the `swagger-ui-py` package (Swagger UI 5, which reads OpenAPI
3.1), served by this server under `ASSETS_PATH`; only its static files are
used. The schema itself is `/schema/openapi.json`.
"""

from importlib.resources import files

from litestar import Router
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/schema/assets"
SWAGGER_UI_STATIC = files("swagger_ui") / "static"


def swagger_ui() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def swagger_ui_assets() -> Router:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[str(SWAGGER_UI_STATIC)],
        include_in_schema=False,
        name="swagger-ui-assets",
        opt={"exclude_from_auth": True},
    )

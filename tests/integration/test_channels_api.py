"""`GET /api/o/{org}/c/`, `/api/o/{org}/p/{prj}/c/` and `/api/plugins/`."""

from events_api_support import Api, api, api_settings  # noqa: F401  (fixtures)

EXPECTED = [
    {"name": "email", "slug": "email", "type": "email", "enabled": True},
    {"name": "pager", "slug": "pager", "type": "webhook", "enabled": False},
    {"name": "webhook", "slug": "webhook", "type": "webhook", "enabled": True},
]


async def test_channels_of_the_organization_and_a_project(api: Api) -> None:
    for path in ("/api/o/acme/c/", "/api/o/acme/c", "/api/o/acme/p/web/c/"):
        response = await api.get(path, key="org-everyday")
        assert response.status_code == 200, path
        assert response.json() == EXPECTED
    narrowed = await api.get("/api/o/acme/p/web/c/", key="shop-app")
    assert narrowed.status_code == 200 and narrowed.json() == EXPECTED


async def test_channel_list_is_paginated(api: Api) -> None:
    first = await api.get("/api/o/acme/c/?limit=2")
    assert [c["name"] for c in first.json()] == ["email", "pager"]
    link = first.headers["link"]
    assert 'rel="next"' in link
    next_url = link.split(">")[0].lstrip("<")
    second = await api.client.get(next_url, headers=api.key("org-all"))
    assert [c["name"] for c in second.json()] == ["webhook"]
    assert "link" not in second.headers


async def test_channel_list_errors(api: Api) -> None:
    assert (await api.client.get("/api/o/acme/c/")).status_code == 401
    assert (await api.get("/api/o/acme/c/", key="without-organization:read")).status_code == 403
    assert (await api.get("/api/o/acme/c/", key="globex-all")).status_code == 403
    assert (await api.get("/api/o/nope/c/", key="globex-all")).status_code == 403
    assert (await api.get("/api/o/acme/p/mobile/c/", key="shop-app")).status_code == 403
    missing = await api.get("/api/o/acme/p/nope/c/")
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


async def test_plugins_for_admin_keys_only(api: Api) -> None:
    response = await api.get("/api/plugins/")
    assert response.status_code == 200
    body = response.json()
    assert {"clarion_channels.email", "clarion_channels.webhook"} <= {p["name"] for p in body["plugins"]}
    types = {t["type"]: t for t in body["channel_types"]}
    assert types["email"]["address_kinds"] == ["email"] and types["email"]["requires_template"] is True
    assert types["webhook"]["address_kinds"] == ["url"] and types["webhook"]["requires_template"] is False
    assert types["apprise"]["address_kinds"] == ["apprise"] and types["apprise"]["plugin"] == "clarion_channels.apprise"
    assert body["failures"] == [] and body["unavailable"] == []
    denied = await api.get("/api/plugins/", key="org-everyday")
    assert denied.status_code == 403 and "admin" in denied.json()["detail"]
    assert (await api.client.get("/api/plugins/")).status_code == 401


async def test_plugins_lists_the_apprise_type_as_unavailable_without_the_extra(
    api_settings, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    """With Apprise not importable (as without `clarion[apprise]`), `/api/plugins/` says how to install it."""
    import sys

    import httpx

    from clarion.http.app import create_app
    from events_api_support import app_running, seed

    monkeypatch.delitem(sys.modules, "clarion_channels.apprise", raising=False)
    monkeypatch.setitem(sys.modules, "apprise", None)
    app = create_app(api_settings)
    async with app_running(app):
        tokens = await seed()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://clarion.test") as client:
            body = (await client.get("/api/plugins/", headers={"Authorization": f"Key {tokens['acme/org-all']}"})).json()
    assert body["failures"] == [] and "apprise" not in {t["type"] for t in body["channel_types"]}
    (unavailable,) = body["unavailable"]
    assert unavailable["name"] == "clarion_channels.apprise" and unavailable["channel_types"] == ["apprise"]
    assert unavailable["install"] == "pip install 'clarion[apprise]'"
    assert unavailable["reason"].startswith("the apprise channel needs the Apprise library")

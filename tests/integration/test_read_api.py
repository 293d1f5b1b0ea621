"""Ping and the organization / project / application reads (SPEC §3.2), and the one list scheme."""

import copy
from typing import Any

import pytest
from events_api_support import CATALOG, Api, api, api_settings, seed  # noqa: F401
from clarion_test_support import problem

FLAGS = {"active": True, "locked": False, "paused": False}


@pytest.mark.parametrize("path", ["/api/system/ping/", "/api/system/ping"])
async def test_ping_answers_the_keys_name(api: Api, path: str) -> None:
    for key in ("shop-app", "org-all"):
        response = await api.get(path, key=key)
        assert (response.status_code, response.json()) == (200, {"token": key})


@pytest.mark.parametrize("path", ["/api/o/acme/", "/api/o/acme"])
async def test_read_organization(api: Api, path: str) -> None:
    response = await api.get(path, key="shop-app")
    assert (response.status_code, response.json()) == (200, {"slug": "acme", "name": "Acme"})


async def test_list_projects_for_an_organization_key(api: Api) -> None:
    response = await api.get("/api/o/acme/p/", key="org-everyday")
    assert response.status_code == 200
    assert response.json() == [
        {"slug": "legacy", "name": "Legacy", **FLAGS, "locked": True},
        {"slug": "mobile", "name": "Mobile", **FLAGS},
        {"slug": "web", "name": "Web", **FLAGS},
    ]


@pytest.mark.parametrize("key", ["web-project", "shop-app"])
async def test_a_narrowed_key_lists_only_its_project(api: Api, key: str) -> None:
    response = await api.get("/api/o/acme/p", key=key)
    assert [project["slug"] for project in response.json()] == ["web"]


async def test_read_project(api: Api) -> None:
    response = await api.get("/api/o/acme/p/web/", key="shop-app")
    assert (response.status_code, response.json()) == (200, {"slug": "web", "name": "Web", **FLAGS})
    response = await api.get("/api/o/acme/p/nope/", key="org-everyday")
    assert (response.status_code, response.json()) == (404, problem(404, "unknown project 'nope'"))


async def test_list_applications(api: Api) -> None:
    response = await api.get("/api/o/acme/p/web/a/", key="web-project")
    assert response.json() == [
        {"slug": "attic", "name": "Attic", **FLAGS, "active": False},
        {"slug": "blog", "name": "Blog", **FLAGS, "paused": True},
        {"slug": "shop", "name": "Shop", **FLAGS},
    ]
    response = await api.get("/api/o/acme/p/web/a", key="shop-app")
    assert [app["slug"] for app in response.json()] == ["shop"]
    response = await api.get("/api/o/acme/p/nope/a/", key="org-everyday")
    assert (response.status_code, response.json()) == (404, problem(404, "unknown project 'nope'"))


def _many_projects(count: int) -> dict[str, Any]:
    document = copy.deepcopy(CATALOG)
    document["organizations"] = [document["organizations"][0]]
    org = document["organizations"][0]
    org["projects"] = [{"slug": f"p{index:03d}", "name": f"P{index}"} for index in range(count)]
    org["api_keys"] = []
    return document


async def test_every_list_pages_with_a_next_link(api: Api) -> None:
    await seed(_many_projects(25))
    expected = sorted(["legacy", "mobile", "web", *(f"p{index:03d}" for index in range(25))])
    seen: list[str] = []
    url: str | None = "/api/o/acme/p/?limit=10&unrelated=kept"
    links: list[str] = []
    while url:
        response = await api.get(url, key="org-everyday")
        assert response.status_code == 200
        assert len(response.json()) <= 10
        seen += [project["slug"] for project in response.json()]
        url = response.links.get("next", {}).get("url")
        if url:
            links.append(url)
    assert seen == expected
    assert len(links) == 2
    assert all(link.startswith("http://clarion.test/api/o/acme/p/?") for link in links)
    assert all("unrelated=kept" in link and "limit=10" in link for link in links)
    default = await api.get("/api/o/acme/p/", key="org-everyday")
    assert len(default.json()) == 28 and "link" not in default.headers
    first = await api.get("/api/o/acme/p/?limit=1", key="org-everyday")
    assert [p["slug"] for p in first.json()] == ["legacy"]
    assert first.links["next"]["url"].endswith("limit=1")


async def test_the_next_link_starts_with_the_public_url_whatever_the_host_header(
    make_settings: Any,
) -> None:
    import httpx

    from clarion.http.app import create_app
    from events_api_support import API_CONFIG, app_running

    settings = make_settings(API_CONFIG, server={"public_url": "https://clarion.example.com/notify/"})
    app = create_app(settings)
    async with app_running(app):
        tokens = await seed()
        await seed(_many_projects(3))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://attacker.example") as client:
            api = Api(client, tokens, app)
            response = await api.get("/api/o/acme/p/?limit=2&x=1", key="org-everyday", headers={"Host": "evil.example"})
    assert response.status_code == 200
    link = response.headers["link"]
    assert link.startswith("<https://clarion.example.com/notify/api/o/acme/p/?x=1&cursor=")
    assert link.endswith('&limit=2>; rel="next"')
    assert "evil" not in link and "attacker" not in link


async def test_without_a_public_url_the_next_link_follows_the_request(api: Api) -> None:
    await seed(_many_projects(3))
    response = await api.get("/api/o/acme/p/?limit=2", key="org-everyday", headers={"Host": "other.example:8080"})
    assert response.headers["link"].startswith("<http://other.example:8080/api/o/acme/p/?cursor=")


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x"])
async def test_a_bad_limit_is_400_on_every_list(api: Api, query: str) -> None:
    for path in ("/api/o/acme/p/", "/api/o/acme/p/web/a/"):
        response = await api.get(f"{path}?{query}", key="org-everyday")
        assert response.status_code == 400
        assert response.json()["detail"].startswith("limit: ")
    assert (await api.get("/api/o/acme/p/?limit=1000", key="org-everyday")).status_code == 200


@pytest.mark.no_db
def test_in_memory_lists_page_the_same_way() -> None:
    from clarion.errors import BadRequest
    from clarion.pagination import PageRequest, decode_cursor, page_of_rows

    names = [f"channel-{index:02d}" for index in range(7)]
    seen: list[str] = []
    page = PageRequest(limit=3)
    while True:
        result = page_of_rows(names, page, key=lambda name: name)
        seen += result.items
        if result.next_cursor is None:
            break
        page = PageRequest(limit=3, cursor=result.next_cursor)
    assert seen == names
    with pytest.raises(BadRequest, match="^cursor: "):
        decode_cursor("WzFd", str)  # a cursor of an integer-keyed list

"""Grant and scope guards for API route handlers (SPEC §3.4).

Usage, on each handler (a guard on the controller would also guard Litestar's
automatic `OPTIONS` handler)::

    from clarion.auth.grants import Grant
    from clarion.http.guards import requires

    @get("/api/o/{org:str}/p/{prj:str}/d/", guards=[requires(Grant.DISTRIBUTIONLIST_READ)])
    @post("/api/o/{org:str}/u/", guards=[requires(Grant.USER_WRITE, parents="write")])

`requires(*grants)` checks, in this order (after the authentication middleware's 401):

1. every grant in `grants` is held (`full_access` holds them all), else 403
   "key lacks the grant <grant>";
2. the key's scope covers the slugs of the path, else 403 "key is not valid for
   …". The decision uses only the path parameters named `org`, `prj` and `app`
   (so name them exactly that) and happens before anything is looked up, so a
   key cannot tell an existing organization/project/application it may not see
   from a missing one.

Scope: a key belongs to one organization and may be narrowed to a project and
further to an application. A path inside the key's scope is allowed. A path
*above* it (an organization-level path for a project key; an
organization- or project-level path for an application key) is a "parent": by
default (`parents="read"`) parents may be read (GET/HEAD) but not changed, and
lists there must be filtered by the service to what the key covers
(`ApiPrincipal.project` / `.application`). `parents="write"` also allows
changes (users and their addresses belong to the organization, and narrowed
keys with `user:write` manage them); `parents="none"` refuses parents entirely.
Any other path (another organization, project or application) is 403.

`principal_of(request)` gives a handler the authenticated key.
"""

from collections.abc import Mapping
from typing import Any, Literal

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from clarion.auth.grants import Grant
from clarion.auth.services import ApiPrincipal, InvalidApiKey
from clarion.errors import PermissionDenied

ParentAccess = Literal["none", "read", "write"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiPrincipal:
    """The API key that authenticated this request (401 if none did)."""
    user = connection.scope.get("user")
    if not isinstance(user, ApiPrincipal):
        raise InvalidApiKey("missing Authorization header: send 'Authorization: Key <token>'")
    return user


def requires(*grants: Grant | str, parents: ParentAccess = "read") -> Guard:
    """A guard: the key holds every one of `grants` and its scope covers the path's slugs.

    Async although it awaits nothing: Litestar runs a synchronous guard in a thread pool,
    a thread hop on every request."""
    needed = tuple(Grant(grant).value for grant in grants)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        for grant in needed:
            if grant not in principal.grants:
                raise PermissionDenied(f"key lacks the grant {grant}")
        check_scope(
            principal,
            connection.path_params,
            changes=connection.scope["method"] not in SAFE_METHODS,  # type: ignore[typeddict-item]
            parents=parents,
        )

    guard.__qualname__ = guard.__name__ = f"requires({', '.join(needed)})"
    return guard


def check_scope(
    principal: ApiPrincipal, path: Mapping[str, Any], *, changes: bool, parents: ParentAccess = "read"
) -> None:
    """403 unless the key's scope covers the `org` / `prj` / `app` slugs of `path`."""
    org = path.get("org")
    if org is None:  # not inside an organization (ping, plugins): the grants alone decide
        return
    if org != principal.organization:
        raise PermissionDenied(f"key is not valid for organization {org!r}")
    above = f"organization {org!r}"
    for level, slug, own in (
        ("project", path.get("prj"), principal.project),
        ("application", path.get("app"), principal.application),
    ):
        if own is None:  # the key is not narrowed at this level: it covers everything below
            return
        if slug is None:  # the path stops above the key's scope
            _parent(principal, above, changes, parents)
            return
        if slug != own:
            raise PermissionDenied(f"key is not valid for {level} {slug!r}")
        above = f"{level} {slug!r}"


def _parent(principal: ApiPrincipal, what: str, changes: bool, parents: ParentAccess) -> None:
    allowed = parents == "write" or (parents == "read" and not changes)
    if not allowed:
        narrowed = (
            f"application {principal.application!r}" if principal.application else f"project {principal.project!r}"
        )
        action = "change" if changes else "read"
        raise PermissionDenied(f"key is not valid for this path: it is narrowed to {narrowed} and cannot {action} {what}")

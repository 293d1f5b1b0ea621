"""`/api/o/{org}/keys/`: list, mint and revoke API keys (SPEC §3.3, grant `admin`).

The path names only the organization, so narrowed keys reach it as a "parent"
(`parents="write"`); `clarion.auth.keys` then keeps them inside their own scope.
"""

from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import FromPath

from clarion.auth import keys
from clarion.auth.grants import Grant
from clarion.auth.keys import KeyCreatedOut, KeyIn, KeyOut
from clarion.http.authentication import API_KEY_REQUIRED
from clarion.http.body import Decoded
from clarion.http.guards import principal_of, requires
from clarion.http.pagination import LINK_HEADER, PAGINATION, RequestedPage, list_response
from clarion.http.paths import OrganizationAt
from clarion.http.responses import created_below, creates

ADMIN = [requires(Grant.ADMIN, parents="write")]


class ApiKeyController(Controller):
    path = "/api/o/{org:str}/keys"
    tags = ["management"]
    security = API_KEY_REQUIRED
    dependencies = PAGINATION

    @get("/", operation_id="listApiKeys", guards=ADMIN, response_headers=LINK_HEADER)
    async def list_keys(
        self, request: Request[Any, Any, Any], organization: OrganizationAt, page: RequestedPage
    ) -> Response[list[KeyOut]]:
        """The keys within the calling key's scope, by id (never their tokens)."""
        return list_response(await keys.list_keys(principal_of(request), page), request)

    @post(
        "/",
        operation_id="createApiKey",
        guards=ADMIN,
        **creates(KeyIn, after="organization", empty_is_default=True),
    )
    async def create_key(
        self, request: Request[Any, Any, Any], organization: OrganizationAt, payload: Decoded[KeyIn]
    ) -> Response[KeyCreatedOut]:
        """Mint a key within the calling key's scope and grants; its token is shown only here."""
        key = await keys.create_key(principal_of(request), payload)
        return created_below(key, request, key.id)

    @delete("/{key_id:int}/", operation_id="revokeApiKey", guards=ADMIN)
    async def revoke_key(self, request: Request[Any, Any, Any], organization: OrganizationAt, key_id: FromPath[int]) -> None:
        """Revoke a key (`active = false`); it stops working within a second."""
        await keys.revoke_key(principal_of(request), key_id)

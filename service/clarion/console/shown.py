"""Which tables the console shows, and how: editable under the API's rules, read-only, or partly hidden."""

from collections.abc import Callable
from piccolo.table import Table
from piccolo_admin.endpoints import TableConfig
from piccolo_api.crud.endpoints import PiccoloCRUD
from piccolo_api.crud.validators import Validators
from starlette.exceptions import HTTPException
from starlette.requests import Request

from clarion.auth.tables import ApiKey
from clarion.catalog.schemas import CatalogOrganization
from clarion.console.rules import ApiRules, compilable_template, configured_channels, reachable_address
from clarion.distribution.tables import DistributionList, DistributionListMember
from clarion.events.tables import Event
from clarion.notifications.schemas import NotificationIn, TemplateIn
from clarion.notifications.tables import Notification, Subscription, Template
from clarion.occurrences.tables import Delivery, Occurrence
from clarion.organizations.schemas import EventIn, FlaggedIn
from clarion.organizations.tables import Application, Organization, Project
from clarion.process import Runtime
from clarion.users.tables import Address, ApplicationMembership, Assignment, User

CATALOG, PEOPLE, HISTORY, ACCESS = "Catalog", "Recipients", "History", "Access"

RULES = (
    ApiRules(Organization, CatalogOrganization, fixed=("slug",)),
    ApiRules(Project, FlaggedIn, fixed=("slug", "organization")),
    ApiRules(Application, FlaggedIn, fixed=("slug", "project")),
    ApiRules(Event, EventIn, fixed=("slug", "application")),
    ApiRules(Notification, NotificationIn, fixed=("event",), extra=(configured_channels,)),
    ApiRules(Template, TemplateIn, fixed=("event", "notification"), extra=(configured_channels, compilable_template)),
    ApiRules(Assignment, None, fixed=("address",), extra=(reachable_address,)),
)
MENU = {
    Organization: CATALOG, Project: CATALOG, Application: CATALOG, Event: CATALOG,
    Notification: CATALOG, Template: CATALOG,
    User: PEOPLE, Address: PEOPLE, Assignment: PEOPLE, ApplicationMembership: PEOPLE,
    DistributionList: PEOPLE, DistributionListMember: PEOPLE, Subscription: PEOPLE,
}
# Keys: the name and the active toggle (revoke / reactivate) change; nothing else does, the token's hash never.
API_KEY_RULES = ApiRules(
    ApiKey, None, fixed=("organization", "project", "application", "grants"), ignored=("token_hash",)
)


def console_tables(runtime: Callable[[], Runtime]) -> list[TableConfig]:
    rules = {rule.table: rule for rule in RULES}
    tables = [
        TableConfig(table, menu_group=group, hooks=rules[table].hooks(runtime) if table in rules else None)
        for table, group in MENU.items()
    ]
    read_only = Validators(
        post_single=[_read_only], put_single=[_read_only], patch_single=[_read_only],
        delete_single=[_read_only], delete_all=[_read_only],
    )
    tables += [
        TableConfig(
            Occurrence,
            menu_group=HISTORY,
            validators=read_only,
            visible_columns=[Occurrence.id, Occurrence.event, Occurrence.status, Occurrence.recipients,
                             Occurrence.correlation_id, Occurrence.created],
        ),
        TableConfig(
            Delivery,
            menu_group=HISTORY,
            validators=read_only,
            visible_columns=[Delivery.id, Delivery.occurrence, Delivery.channel, Delivery.address, Delivery.status,
                             Delivery.reason, Delivery.attempts, Delivery.last_error, Delivery.delivered_at],
        ),
        TableConfig(
            ApiKey,
            menu_group=ACCESS,
            # The token's hash is a secret column: Piccolo Admin never reads it; no edit may write it.
            exclude_visible_columns=[ApiKey.token_hash],
            validators=Validators(post_single=[_mint_with_form], put_single=[_mint_with_form]),
            hooks=API_KEY_RULES.hooks(runtime),
        ),
    ]
    return tables


def _read_only(piccolo_crud: PiccoloCRUD, request: Request) -> None:
    raise HTTPException(
        status_code=405, detail=f"{piccolo_crud.table._meta.tablename}: read-only in the console (it is history)"
    )


def _mint_with_form(piccolo_crud: PiccoloCRUD, request: Request) -> None:
    raise HTTPException(status_code=405, detail="api_key: mint keys with the 'Mint an API key' form")

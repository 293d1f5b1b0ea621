"""Every Clarion table, in dependency order."""

from piccolo.table import Table

from clarion.auth.tables import ApiKey
from clarion.distribution.tables import DistributionList, DistributionListMember
from clarion.events.tables import Event
from clarion.notifications.tables import Notification, Subscription, Template
from clarion.occurrences.tables import Delivery, IdempotencyRecord, Occurrence
from clarion.operators.tables import Operator, OperatorSession
from clarion.organizations.tables import Application, Organization, Project
from clarion.users.tables import Address, ApplicationMembership, Assignment, User

ALL_TABLES: tuple[type[Table], ...] = (
    Organization,
    Project,
    Application,
    Event,
    User,
    Address,
    Assignment,
    ApplicationMembership,
    DistributionList,
    DistributionListMember,
    Notification,
    Subscription,
    Template,
    ApiKey,
    Occurrence,
    Delivery,
    IdempotencyRecord,
    Operator,
    OperatorSession,
)

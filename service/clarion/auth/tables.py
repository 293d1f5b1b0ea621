"""API keys."""

from piccolo.columns import JSON, Boolean, ForeignKey, Integer, Timestamptz, Varchar
from piccolo.table import Table

from clarion.organizations.tables import Application, Organization, Project


class ApiKey(Table):
    """A key scoped to an organization, optionally narrowed; only the token's SHA-256 is stored."""

    organization = ForeignKey(Organization, null=False)
    project = ForeignKey(Project, null=True, default=None)
    application = ForeignKey(Application, null=True, default=None)
    name = Varchar(length=150)
    token_hash = Varchar(length=64, unique=True, secret=True)  # secret: never in the console
    grants = JSON(default="[]")
    expires_at = Timestamptz(null=True, default=None)
    active = Boolean(default=True)
    last_used_at = Timestamptz(null=True, default=None)
    created = Timestamptz()
    rate_per_minute = Integer(null=True, default=None)
    """The key's own rate limit (0: unlimited); NULL: `[rate_limit]` applies."""
    rate_burst = Integer(null=True, default=None)


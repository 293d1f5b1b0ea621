"""The grants an API key can hold (SPEC §3.4)."""

from enum import Enum


class Grant(str, Enum):
    SYSTEM_PING = "system:ping"
    ORGANIZATION_READ = "organization:read"
    EVENT_LIST = "event:list"
    EVENT_TRIGGER = "event:trigger"
    OCCURRENCE_READ = "occurrence:read"
    DISTRIBUTIONLIST_READ = "distributionlist:read"
    DISTRIBUTIONLIST_WRITE = "distributionlist:write"
    USER_READ = "user:read"
    USER_WRITE = "user:write"
    APPLICATION_USERS = "application:users"
    ADMIN = "admin"
    FULL_ACCESS = "full_access"


ALL_GRANTS = frozenset(grant.value for grant in Grant)


def expand_grants(grants: list[str] | frozenset[str]) -> frozenset[str]:
    """`full_access` stands for every grant."""
    if Grant.FULL_ACCESS.value in grants:
        return ALL_GRANTS
    return frozenset(grants)

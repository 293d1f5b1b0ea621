"""The console's accounts and sessions: Piccolo's own auth tables, under Clarion's table names."""

from piccolo.apps.user.tables import BaseUser
from piccolo_api.session_auth.tables import SessionsBase


class Operator(BaseUser, tablename="operator"):
    """A console login: username, PBKDF2 password hash, `active` and `admin` (both needed to log in)."""


class OperatorSession(SessionsBase, tablename="operator_session"):
    """A console session: the cookie's random token, the operator's id and the expiry dates."""

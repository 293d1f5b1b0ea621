"""The service's exception hierarchy; `clarion.http.app` maps it to HTTP in one place."""


class ClarionError(Exception):
    """A request that cannot be served; `detail` says why and names the field."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(ClarionError):
    status_code = 400


class NotAuthenticated(ClarionError):
    status_code = 401


class PermissionDenied(ClarionError):
    status_code = 403


class NotFound(ClarionError):
    status_code = 404


class Conflict(ClarionError):
    status_code = 409


class PayloadTooLarge(ClarionError):
    """The request body is larger than `server.max_body_bytes`."""

    status_code = 413


class Unprocessable(ClarionError):
    status_code = 422


class ServiceUnavailable(ClarionError):
    """The database cannot serve the request now (full, read-only, unreachable): 503, try again later."""

    status_code = 503

"""The domain errors of the server.

Services raise these; the API turns them into HTTP in one place
(``evalserver.api.exception_handler``) and the pages show their message. The message
is written for the person who caused it.
"""


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class ValidationFailed(DomainError):
    code = "invalid"


class NotFound(DomainError):
    """Also used for objects that exist but belong to someone else: we don't say which."""

    status_code = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class PhaseClosed(DomainError):
    status_code = 403
    code = "phase_closed"


class NotInTeam(DomainError):
    status_code = 403
    code = "not_in_team"


class QuotaExceeded(DomainError):
    status_code = 429
    code = "quota_exceeded"


class FileTooLarge(DomainError):
    status_code = 413
    code = "file_too_large"

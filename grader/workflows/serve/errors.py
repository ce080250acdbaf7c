"""The one expected failure of a request, raised by the routes and answered as JSON by the app."""


class ApiError(Exception):
    """An expected failure with its HTTP status; answered as {"error": message, **extra}."""

    def __init__(self, status: int, message: str, extra: dict | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.extra, self.headers = status, message, extra or {}, headers

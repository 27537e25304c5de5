"""director: holds the wall meter, records readings, serves the session API."""

__all__: list[str] = []

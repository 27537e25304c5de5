"""agent: runs the benchmark on the system under test and reports to the director."""

__all__: list[str] = []

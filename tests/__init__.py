"""mlpower's tests, one folder per package; helpers in tests/support."""

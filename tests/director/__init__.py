"""Tests of director: meters, sessions, the HTTP API, power-dev's protocol, simulators."""

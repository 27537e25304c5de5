"""Helpers shared by the tests: processes, ports, proxies, HTTP sessions, JSON editing, fake results."""

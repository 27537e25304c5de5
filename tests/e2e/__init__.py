"""Whole measurements and their faults, every part a real process on loopback."""

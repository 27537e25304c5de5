"""Tests of agent: the SUT side: benchmark, GPUs, components, clock, client."""

"""Tests of analyzer: metrics, rules, reports, scans, the official verdict."""

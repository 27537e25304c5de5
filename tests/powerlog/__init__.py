"""Tests of powerlog: the records and file formats."""

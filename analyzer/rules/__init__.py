"""The power submission rules, one module per rule family (see analyzer.checks for the list and how they run)."""

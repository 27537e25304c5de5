"""The repository as a whole: docs against parsers, exception trees, module sizes."""

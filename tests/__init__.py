"""The test suite: one file per module, tests/ui/ one per dashboard page."""

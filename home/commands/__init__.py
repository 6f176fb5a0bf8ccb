"""The `piccolo home ...` CLI tasks: plain async functions whose docstrings are their --help."""

"""Shared fixtures of the study tests: one thread (the studies' default), as the optimizer tests
run, restoring the count afterwards (the CLI sets it)."""

from tests.optim.conftest import one_thread  # noqa: F401  (autouse: applies to every test here)

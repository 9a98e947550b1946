import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every study test runs on one thread (``one_thread`` in tests/conftest.py)."""

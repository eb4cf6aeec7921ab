"""This package runs on its own embedded broker (tests/conftest.py, `bootstrap_servers`)."""

from tests.conftest import bootstrap_servers  # noqa: F401 (imported: pytest scopes it to this package)

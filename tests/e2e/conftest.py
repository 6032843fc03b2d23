"""E2E fixtures: the same real-service endpoints as the integration tier."""

from __future__ import annotations

import pytest

from tests.support import services

stack_endpoints = pytest.fixture(scope="session", name="stack_endpoints")(services.stack_endpoints)

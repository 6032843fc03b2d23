"""Integration fixtures: real Kafka and Redis endpoints for the whole session."""

from __future__ import annotations

import pytest

from tests.support import services

stack_endpoints = pytest.fixture(scope="session", name="stack_endpoints")(services.stack_endpoints)

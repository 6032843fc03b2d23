"""Chained worker: ``create_app`` wires settings, the pipeline and the Kafka loop."""

from __future__ import annotations

from services.chained.handlers import build_handler
from shared.worker import AppFactory, stage_app

__all__ = ["create_app"]

create_app: AppFactory = stage_app("chained", handler_factory=build_handler, classifier=True)

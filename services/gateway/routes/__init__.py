"""The gateway's routers, one per concern; each handler validates, calls the core, answers."""

from services.gateway.routes import appeals, decisions, meta, moderation

__all__ = ["appeals", "decisions", "meta", "moderation"]

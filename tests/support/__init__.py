"""Helpers shared by test tiers (plain modules, not conftest)."""

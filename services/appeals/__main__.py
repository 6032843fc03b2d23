"""``python -m services.appeals``: run the appeals worker until SIGTERM."""

from services.cli.worker import run_worker

raise SystemExit(run_worker("appeals"))

"""``python -m services.response``: run the response worker until SIGTERM."""

from services.cli.worker import run_worker

raise SystemExit(run_worker("response"))

"""``python -m services.chained``: run the chained worker until SIGTERM."""

from services.cli.worker import run_worker

raise SystemExit(run_worker("chained"))

"""``python -m services.audit``: run the audit sink until SIGTERM."""

from services.cli.worker import run_worker

raise SystemExit(run_worker("audit"))

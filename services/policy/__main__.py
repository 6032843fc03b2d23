"""``python -m services.policy``: run the policy worker until SIGTERM."""

from services.cli.worker import run_worker

raise SystemExit(run_worker("policy"))

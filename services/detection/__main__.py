"""``python -m services.detection``: run the detection worker until SIGTERM."""

from services.cli.worker import run_worker

raise SystemExit(run_worker("detection"))

"""The sink's periodic upkeep: retention, and re-verifying the rows stored since last time.

Every ``audit.maintenance_interval_s`` it deletes rows older than ``audit.retention_days``
(a prefix of each chain; the anchor moves) and verifies each chain from the last row it
verified (from the anchor on its first pass, so a start re-verifies everything retained).
A broken chain counts in ``clearpath_audit_chain_verification_failures_total`` on every
pass until it is dealt with; ``clearpath audit verify`` reports it in full.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from services.audit.metrics import AuditMetrics
from shared.audit.store import AuditStore
from shared.audit.verify import VerifiedLink, verify_topic
from shared.errors import InfrastructureError
from shared.settings import AuditSettings

__all__ = ["Maintenance"]

log = logging.getLogger("clearpath.audit")


class Maintenance:
    """Runs :meth:`run_once` every interval on its own thread until stopped."""

    def __init__(
        self,
        *,
        store: AuditStore,
        settings: AuditSettings,
        metrics: AuditMetrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._settings = settings
        self._metrics = metrics
        self._clock = clock
        self._verified: dict[int, VerifiedLink] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="audit-maintenance", daemon=True)

    def run_once(self) -> None:
        """Apply retention, then verify what was stored since the last pass."""
        cutoff = self._clock() - timedelta(days=self._settings.retention_days)
        expired = self._store.delete_expired(before=cutoff)
        if expired:
            self._metrics.expired.inc(expired)
            log.info("retention deleted %d audit rows recorded before %s", expired, cutoff)
        with self._store.pool.connection() as conn:
            reports = verify_topic(conn, self._store.topic, after=self._verified)
        for report in reports:
            self._metrics.verified_rows.inc(report.result.checked)
            broken = report.result.broken
            if broken is not None:
                self._metrics.verification_failures.labels(broken.reason).inc()
                log.error(
                    "audit chain broken: topic=%s partition=%d seq=%d reason=%s: %s",
                    report.topic,
                    report.partition,
                    broken.seq,
                    broken.reason,
                    broken.detail,
                )
                continue
            link = report.verified_through
            if link is not None:
                self._verified[report.partition] = link

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self._settings.maintenance_interval_s):
            try:
                self.run_once()
            except InfrastructureError as exc:  # the next pass tries again
                log.warning("audit maintenance failed: %s", exc)

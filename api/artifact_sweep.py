"""Deleting expired artifacts (and what dead writers left) in the gateway's background.

Every gateway sweeps: the store's sweep is safe from several processes at once, and the
gateway is the one process a deployment always runs. A store that cannot be swept now (disk
gone, S3 down) is tried again next round; /health reports it meanwhile.
"""

from __future__ import annotations

import logging

from artifacts import ArtifactError, ArtifactStore

log = logging.getLogger("mpc.api")

ARTIFACT_SWEEP_S = 300.0  # expired artifacts stay unserved meanwhile: the store checks expiry on read


async def sweep_expired(store: ArtifactStore) -> None:
    try:
        report = await store.sweep()
    except ArtifactError as exc:
        log.warning("artifact sweep failed: %s", exc.message)
        return
    if report.expired or report.stale:
        log.info("artifact sweep: %d expired, %d stale removed", report.expired, report.stale)

"""How long finished jobs are kept: each queue class's result TTL and the grace after it.

Built once per process from `Settings` (`MPC_RESULT_TTL_S`, `MPC_EXPIRED_GRACE_S`) and passed
to whatever writes a job's TTLs: the final state and the claim (their Lua scripts take the
figures as ARGV), events, a plan's checkpoint, the video index, artifacts. A finished job's
output is kept `result_s` seconds, then the job reads `expired`; its record and events live
`expired_grace_s` more, then it is gone (404).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from queues.classes import MAX_QUEUED_S, QUEUE_CLASS_LIMITS
from queues.settings import DEFAULT_EXPIRED_GRACE_S, Settings


@dataclass(frozen=True, slots=True)
class Retention:
    result_ttl_s: Mapping[str, int]  # by queue class
    expired_grace_s: int = DEFAULT_EXPIRED_GRACE_S

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        """The classes' own result TTLs unless `MPC_RESULT_TTL_S` sets one for all."""
        result = settings.result_ttl_s
        return cls(
            result_ttl_s=MappingProxyType(
                {name: result or limits.result_ttl_s for name, limits in QUEUE_CLASS_LIMITS.items()}
            ),
            expired_grace_s=settings.expired_grace_s,
        )

    def result_s(self, queue_class: str) -> int:
        """How long a finished job of the class keeps its output."""
        return self.result_ttl_s[queue_class]

    def record_s(self, queue_class: str) -> int:
        """How long a job's record and events outlive its start (then its finish)."""
        return self.result_ttl_s[queue_class] + self.expired_grace_s

    def video_index_s(self) -> int:
        """The longest a video job's record lives after its creation: waiting for a worker,
        then its result and grace (generation itself takes minutes)."""
        return MAX_QUEUED_S + self.record_s("media")

    def record_ttls(self) -> list[str]:
        """(queue class, record TTL) pairs, flat, as Lua ARGV."""
        return [str(v) for name in self.result_ttl_s for v in (name, self.record_s(name))]

    def final_ttls(self, now: float) -> list[str]:
        """(queue class, record TTL, when its result expires) triples, flat, as Lua ARGV."""
        return [
            v for name in self.result_ttl_s for v in (name, str(self.record_s(name)), repr(now + self.result_s(name)))
        ]


# With no `MPC_*` retention variable set (tests and tools; the processes build their own).
DEFAULT_RETENTION = Retention.from_settings(Settings())

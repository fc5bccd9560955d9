"""The offloader the settings name, sized and budgeted from the settings."""

from __future__ import annotations

from collections.abc import Sequence

from perflab.app import observe
from perflab.app.admission import Admission
from perflab.app.offload.base import Offloader
from perflab.app.offload.local import InlineOffloader, ThreadOffloader
from perflab.app.offload.process import ProcessOffloader
from perflab.app.offload.queue import QueueOffloader
from perflab.config import OffloadKind, Settings


def make_offloader(settings: Settings, warmups: Sequence[str] = ()) -> Offloader:
    """The offloader `settings.offload` names, with its admission built from the settings.

    Usage: `offloader = make_offloader(Settings(offload="thread")); await offloader.start()`
    """
    kind = settings.offload
    slots = 1 if kind is OffloadKind.INLINE else settings.offload_process_count()
    admission = Admission(
        "offload",
        slots,
        settings.queue_budget_s,
        settings.queue_memory_bytes(),
        on_shed=observe.OFFLOAD_REJECTED.inc,
    )
    if kind is OffloadKind.INLINE:
        return InlineOffloader(admission)
    if kind is OffloadKind.THREAD:
        return ThreadOffloader(admission)
    if kind is OffloadKind.QUEUE:
        # Workers warm themselves up (perflab worker); slots follow the live ones.
        return QueueOffloader(admission, settings)
    return ProcessOffloader(
        admission,
        warmups,
        settings.offload_nice,
        settings.job_timeout_s,
        settings,
        batch_max=settings.batch_max,
        batch_wait_ms=settings.batch_wait_ms,
    )

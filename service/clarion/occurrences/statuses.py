"""The words of an occurrence's and a delivery's life (SPEC §3.3, §5), one enum each."""

from enum import StrEnum


class OccurrenceStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


FINISHED_OCCURRENCE = (OccurrenceStatus.COMPLETED, OccurrenceStatus.FAILED)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Waiting to be sent, or for a retry."""
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"


class DeliveryReason(StrEnum):
    """Why a delivery was skipped or failed, where Clarion decided it (a channel's own reasons are free text)."""

    CHANNEL_DISABLED = "channel_disabled"
    CHANNEL_UNKNOWN = "channel_unknown"
    NO_TEMPLATE = "no_template"
    RENDER_ERROR = "render_error"
    MAX_ATTEMPTS = "max_attempts"

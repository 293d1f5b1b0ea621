"""What the Events API shows of an event."""

from clarion.schemas import Response


class EventOut(Response):
    """An event as `GET …/e/` lists it."""

    name: str
    slug: str
    description: str
    active: bool
    locked: bool
    paused: bool

"""A first-come-first-served queue for the heavy work of one process: trainings take turns at the cores.

Every training already uses every core this process may use (:mod:`mtlgrn_core.threads`). Two of them at once each
take about twice as long, so both finish late; one after the other, the first finishes early and the second no
later. A :class:`ComputeQueue` therefore lets ``slots`` pieces of work run at once (default 1, or
``MTLGRN_TRAINING_SLOTS`` on a server with cores to spare) and keeps the others waiting, in the order they came, each
knowing its place and what runs ahead of it. None of this touches a UI.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

SLOTS_VARIABLE = "MTLGRN_TRAINING_SLOTS"
WAITING, GRANTED, CANCELLED, RELEASED = "waiting", "granted", "cancelled", "released"


def configured_slots(environ: dict | None = None) -> int:
    """The places of a server's queue: ``MTLGRN_TRAINING_SLOTS`` when it is a positive whole number, else 1 (a
    value that is not one is ignored)."""
    value = (os.environ if environ is None else environ).get(SLOTS_VARIABLE, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else 1


@dataclass(eq=False)
class Ticket:
    """One piece of work's place in a :class:`ComputeQueue` (compared by identity)."""

    label: str
    state: str = WAITING


@dataclass(frozen=True)
class Place:
    """Where a ticket stands: ``position`` 1 is next to start (0 when it is not waiting), ``ahead`` the labels of
    the work running and waiting before it, running first."""

    position: int = 0
    ahead: tuple[str, ...] = ()


class ComputeQueue:
    """At most ``slots`` tickets hold a place at once; the others wait, strictly first come first served.

    A piece of work calls :meth:`enter`, then :meth:`wait` (blocks on a condition variable until its turn, or
    returns False when it was cancelled meanwhile), runs, and calls :meth:`release` however it ended.
    :meth:`cancel` takes a waiting ticket out of the line and wakes its waiter.
    """

    def __init__(self, slots: int | None = None):
        self.slots = configured_slots() if slots is None else int(slots)
        if self.slots < 1:
            raise ValueError(f"a queue needs at least one slot, not {slots}")
        self._changed = threading.Condition()
        self._running: list[Ticket] = []
        self._waiting: list[Ticket] = []

    def enter(self, label: str) -> Ticket:
        """A new ticket at the end of the line (granted at once when a slot is free and nobody waits)."""
        ticket = Ticket(label)
        with self._changed:
            self._waiting.append(ticket)
            self._grant()
        return ticket

    def wait(self, ticket: Ticket) -> bool:
        """Block until ``ticket`` holds a slot (True) or was cancelled (False)."""
        with self._changed:
            self._changed.wait_for(lambda: ticket.state != WAITING)
            return ticket.state == GRANTED

    def cancel(self, ticket: Ticket) -> bool:
        """Take a waiting ticket out of the line (the ones behind it move up); False when it was not waiting."""
        with self._changed:
            if ticket.state != WAITING:
                return False
            self._waiting.remove(ticket)
            ticket.state = CANCELLED
            self._changed.notify_all()
            return True

    def release(self, ticket: Ticket) -> None:
        """Give back the slot ``ticket`` holds (a ticket that holds none is left as it is), letting the next in."""
        with self._changed:
            if ticket.state != GRANTED:
                return
            self._running.remove(ticket)
            ticket.state = RELEASED
            self._grant()

    def place(self, ticket: Ticket) -> Place:
        """Where ``ticket`` stands now (position 0 once it holds a slot or left the line)."""
        with self._changed:
            if ticket.state != WAITING:
                return Place()
            index = self._waiting.index(ticket)
            return Place(index + 1, tuple(t.label for t in [*self._running, *self._waiting[:index]]))

    def running(self) -> tuple[str, ...]:
        """The labels of the work holding a slot now."""
        with self._changed:
            return tuple(t.label for t in self._running)

    def waiting(self) -> tuple[str, ...]:
        """The labels of the work waiting for a slot, next first."""
        with self._changed:
            return tuple(t.label for t in self._waiting)

    def _grant(self) -> None:
        """Give free slots to the first in line and wake the waiters (the caller holds the lock)."""
        while self._waiting and len(self._running) < self.slots:
            ticket = self._waiting.pop(0)
            ticket.state = GRANTED
            self._running.append(ticket)
        self._changed.notify_all()

"""The message bus: one handler per command or query, any number per event.

`handle(command)` (or a query) runs its handler and answers its result; the events that
handler raised are then handled, in the order raised (and those they raise after them).
A failing event handler is logged and skipped: the command it followed has happened
and is not undone, and the other handlers still run.

Handlers receive the message and a list to append the events they raise to; their
dependencies (units of work, clock, adapters) are bound by `bootstrap`.

Events handled *inside a transaction* (`in_transaction`) are the exception: the code
that commits (the group-commit writer for `ReadsStored`) calls `handle_in_transaction`
with its open unit of work, and publishes the events those handlers raise once it has
committed. Their failures are the committer's to contain (the writer does, in a
savepoint, so a failed match never costs a read).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from veille.service.commands import Command, Query
from veille.service.events import Event
from veille.service.ports import UnitOfWork

log = logging.getLogger(__name__)

Raised = list[Event]
CommandHandler = Callable[[Any, Raised], Any]
EventHandler = Callable[[Any, Raised], None]
TransactionHandler = Callable[[Any, UnitOfWork, Raised], None]


class MessageBus:
    def __init__(self) -> None:
        self._commands: dict[type[Command] | type[Query], CommandHandler] = {}
        self._events: dict[type[Event], list[EventHandler]] = {}
        self._in_transaction: dict[type[Event], list[TransactionHandler]] = {}

    # --- wiring (bootstrap) -------------------------------------------------------------

    def register(self, command: type[Command] | type[Query], handler: CommandHandler) -> None:
        """The handler of a command or a query; a second one is a wiring mistake."""
        if command in self._commands:
            raise ValueError(f"{command.__name__} already has a handler")
        self._commands[command] = handler

    def subscribe(self, event: type[Event], handler: EventHandler) -> None:
        """Run `handler` after each `event` (after its commit, for in-transaction events)."""
        self._events.setdefault(event, []).append(handler)

    def subscribe_in_transaction(self, event: type[Event], handler: TransactionHandler) -> None:
        """Run `handler` inside the transaction that raises `event`."""
        self._in_transaction.setdefault(event, []).append(handler)

    def has_subscribers(self, event: type[Event]) -> bool:
        return bool(self._events.get(event))

    def has_transaction_handlers(self, event: type[Event]) -> bool:
        return bool(self._in_transaction.get(event))

    # --- use ----------------------------------------------------------------------------

    def handles(self, message: type[Command] | type[Query]) -> bool:
        return message in self._commands

    def handle(self, message: Command | Query | Event) -> Any:
        """Handle a command or a query (answering its handler's result) or publish an
        event."""
        if isinstance(message, Event):
            self.publish([message])
            return None
        try:
            handler = self._commands[type(message)]
        except KeyError:
            raise LookupError(f"no handler for {type(message).__name__}") from None
        raised: Raised = []
        result = handler(message, raised)
        if raised:
            self.publish(raised)
        return result

    def publish(self, events: Iterable[Event]) -> None:
        """Hand each event to its handlers, in order; what they raise follows."""
        queue: deque[Event] = deque(events)
        while queue:
            event = queue.popleft()
            for handler in self._events.get(type(event), ()):
                raised: Raised = []
                try:
                    handler(event, raised)
                except Exception:  # an event handler never undoes what already happened
                    log.exception("handler %r of %s failed", handler, type(event).__name__)
                    continue
                queue.extend(raised)

    def handle_in_transaction(self, event: Event, uow: UnitOfWork) -> Raised:
        """Run the in-transaction handlers of `event` on the caller's open unit of work;
        answer the events they raised, for the caller to publish once it has committed."""
        raised: Raised = []
        for handler in self._in_transaction.get(type(event), ()):
            handler(event, uow, raised)
        return raised

"""What every `veille` sub-command shares: the data folder option, the platform, the actor."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import httpx
import orjson
import typer

from veille.domain.audit import Actor, system_actor
from veille.service.errors import Busy, Conflict, Forbidden, Invalid, NotFound, VeilleError
from veille.settings import Settings

if TYPE_CHECKING:
    from veille.bootstrap import Platform
    from veille.service.commands import Message

T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data folder (default: $VEILLE_DATA_DIR or ./var)."),
]


def settings_for(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


def open_platform(data_dir: Path | None) -> Platform:
    """The platform over the store in `data_dir`, migrated; nothing started."""
    from veille.bootstrap import bootstrap

    platform = bootstrap(settings_for(data_dir))
    platform.open_store()
    return platform


@contextmanager
def opened_platform(data_dir: Path | None) -> Iterator[Platform]:
    """`open_platform` for the length of one command; the store is closed after it."""
    platform = open_platform(data_dir)
    try:
        yield platform
    finally:
        platform.close_store()


def handled(platform: Platform, message: Message) -> Any:
    """Hand `message` to the platform's bus and answer its result; a refusal is one line
    on stderr and its kind's exit code (as `run_refusing` says), wherever the command is
    invoked from."""
    try:
        return platform.bus.handle(message)
    except VeilleError as exc:
        refuse(exc)


def cli_actor() -> Actor:
    """The audit actor of a command-line action: the operating-system user."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = "unknown"
    return system_actor(f"cli:{user}")


def echo_json(value: object) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


# Exit codes shared by the commands: 1 refused or failed, 2 bad usage, 3 server unreachable.
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

# The one place a kind of service error becomes an exit code (HTTP statuses are mapped in
# entrypoints/api/errors.py). Bad input is a usage error, like a bad option; a busy
# store is a try-again-later, like an unreachable server; the rest are refusals.
TAXONOMY_EXIT: dict[type[VeilleError], int] = {
    NotFound: EXIT_REFUSED,
    Conflict: EXIT_REFUSED,
    Forbidden: EXIT_REFUSED,
    Invalid: EXIT_USAGE,
    Busy: EXIT_UNREACHABLE,
}


def exit_code_of(exc: VeilleError) -> int:
    """The exit code of the error's kind (the first taxonomy class in its ancestry)."""
    for kind in type(exc).__mro__:
        if kind in TAXONOMY_EXIT:
            return TAXONOMY_EXIT[kind]
    return EXIT_REFUSED


def echo_refusal(exc: VeilleError) -> None:
    """A service error as the command line says it: `refused (<code>): <message>` on
    stderr."""
    typer.echo(f"refused ({exc.code}): {exc}", err=True)


def refuse(exc: VeilleError) -> NoReturn:
    """A service error as the command line answers it: one line on stderr, and its kind's
    exit code."""
    echo_refusal(exc)
    raise SystemExit(exit_code_of(exc)) from None


def run_refusing(command: Callable[[], T]) -> T:
    """Run the CLI (or one step of a command) and answer its result; a service error that
    no command handled is one line on stderr and its kind's exit code, never a traceback."""
    try:
        return command()
    except VeilleError as exc:
        refuse(exc)


def iso_moment(text: str | None) -> datetime | None:
    """An ISO 8601 date or date-time option; without a zone it is UTC."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 date-time: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@contextmanager
def talking_to(url: str) -> Iterator[None]:
    """Every command that calls a Veille server runs its HTTP calls inside this: a server
    that cannot be reached (refused, unknown host, timed out) is one line and exit code 3,
    not a traceback."""
    try:
        yield
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        typer.echo(f"cannot reach the Veille server at {url}: {reason}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None

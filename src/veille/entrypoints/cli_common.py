"""What every `veille` sub-command shares: the data folder option, the platform, the actor."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import orjson
import typer

from veille.domain.audit import Actor, system_actor
from veille.settings import Settings

if TYPE_CHECKING:
    from veille.bootstrap import Platform

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
    platform.store.initialise()
    return platform


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
EXIT_UNREACHABLE = 3


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

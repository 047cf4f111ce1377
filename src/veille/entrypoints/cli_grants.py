"""`veille users grants`: list, approve and refuse grants of data access; the DPO report."""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from veille.domain.audit import Actor
from veille.entrypoints.cli_common import DataDir, cli_actor, echo_json, open_platform

if TYPE_CHECKING:
    from veille.bootstrap import Platform

grants_app = typer.Typer(
    no_args_is_help=True,
    help="Grants of data access: a second administrator approves or refuses them.",
)

AsAdmin = Annotated[
    str | None,
    typer.Option(
        "--as",
        help="Act as this administrator (password: $VEILLE_AS_PASSWORD or a prompt)."
        " Without it, the actor is the server's shell (cli:<login>).",
    ),
]
AsTotp = Annotated[str | None, typer.Option("--as-totp", help="Its one-time code, if enrolled.")]


def acting_actor(platform: Platform, as_admin: str | None, totp: str | None = None) -> Actor:
    """Who acts: a signed-in administrator (`--as`), else the server's shell."""
    from veille.domain.access import Role
    from veille.service import users as user_service

    if as_admin is None:
        return cli_actor()
    password = os.environ.get("VEILLE_AS_PASSWORD") or getpass.getpass(f"Password of {as_admin}: ")
    try:
        user = user_service.sign_in(
            uow=platform.uow(),
            read_uow=platform.read_uow(),
            username=as_admin,
            password=password,
            now=platform.clock(),
            totp_code=totp,
            totp_required_roles=frozenset(platform.settings.totp_required_roles),
            user_agent="veille-cli",
        )
    except user_service.SignInRefused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    if user.role is not Role.ADMINISTRATOR:
        typer.echo(f"refused: {as_admin} is not an administrator", err=True)
        raise typer.Exit(1)
    return Actor(
        username=user.username,
        role=user.role.value,
        user_id=user.user_id,
        org_id=user.org_id,
        user_agent="veille-cli",
    )


def pending_message(grant_id: int) -> str:
    return (
        f"grant {grant_id} is pending: a second administrator approves it with"
        f" `veille users grants approve {grant_id} --as <name>`"
        f" or POST /api/v1/user-grants/{grant_id}/approve"
    )


@grants_app.command("list")
def grants_list(
    status: Annotated[
        str | None, typer.Option(help="pending, approved, refused or bootstrap.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """List grants (JSON), oldest first."""
    from veille.service import grants as grant_service

    platform = open_platform(data_dir)
    grants = grant_service.list_grants(uow=platform.read_uow(), status=status)
    echo_json([grant_service.grant_json(g) for g in grants])


def _decide(
    grant_id: int,
    *,
    approve: bool,
    reason: str | None,
    as_admin: str | None,
    totp: str | None,
    data_dir: Path | None,
) -> None:
    from veille.service import grants as grant_service
    from veille.service import users as user_service

    platform = open_platform(data_dir)
    actor = acting_actor(platform, as_admin, totp)
    try:
        grant = grant_service.decide_grant(
            uow=platform.uow(),
            grant_id=grant_id,
            approve=approve,
            actor=actor,
            now=platform.clock(),
            reason=reason,
        )
    except (
        grant_service.GrantNotFound,
        grant_service.SeparationOfDuties,
        user_service.UserError,
    ) as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"grant {grant.grant_id} for {grant.username} {grant.status.value}")


@grants_app.command("approve")
def grants_approve(
    grant_id: Annotated[int, typer.Argument(help="The grant's number.")],
    reason: Annotated[str | None, typer.Option(help="Why (optional).")] = None,
    as_admin: AsAdmin = None,
    as_totp: AsTotp = None,
    data_dir: DataDir = None,
) -> None:
    """Approve a grant: the access takes effect now. Not by whoever asked for it."""
    _decide(
        grant_id, approve=True, reason=reason, as_admin=as_admin, totp=as_totp, data_dir=data_dir
    )


@grants_app.command("refuse")
def grants_refuse(
    grant_id: Annotated[int, typer.Argument(help="The grant's number.")],
    reason: Annotated[str, typer.Option(help="Why not (required).")],
    as_admin: AsAdmin = None,
    as_totp: AsTotp = None,
    data_dir: DataDir = None,
) -> None:
    """Refuse a grant, with a reason."""
    _decide(
        grant_id, approve=False, reason=reason, as_admin=as_admin, totp=as_totp, data_dir=data_dir
    )


@grants_app.command("report")
def grants_report(
    since: Annotated[str | None, typer.Option(help="Requested at or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Requested before (ISO 8601).")] = None,
    data_dir: DataDir = None,
) -> None:
    """For the data-protection officer: every grant, who asked, who decided, when, why
    (JSON). The look-up is recorded in the audit log."""
    from veille.service import grants as grant_service

    platform = open_platform(data_dir)
    grants = grant_service.grant_report(
        uow=platform.uow(),
        actor=cli_actor(),
        now=platform.clock(),
        since=_when(since),
        until=_when(until),
    )
    echo_json([grant_service.grant_json(g) for g in grants])


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

"""`veille users grants`: list, approve and refuse grants of data access; the DPO report."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from veille.domain.audit import Actor
from veille.domain.grants import GrantStatus
from veille.entrypoints.cli_common import (
    DataDir,
    cli_actor,
    echo_json,
    handled,
    iso_moment,
    open_platform,
    refuse,
)

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
    from veille.service.commands.users import SignedIn, SignIn
    from veille.service.errors import Forbidden

    if as_admin is None:
        return cli_actor()
    password = os.environ.get("VEILLE_AS_PASSWORD") or getpass.getpass(f"Password of {as_admin}: ")
    signed_in: SignedIn = handled(
        platform,
        SignIn(username=as_admin, password=password, totp_code=totp, user_agent="veille-cli"),
    )
    user = signed_in.user
    if user.role is not Role.ADMINISTRATOR:
        refuse(Forbidden(f"{as_admin} is not an administrator"))
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
        GrantStatus | None, typer.Option(help="Only the grants in this state.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """List grants (JSON), oldest first."""
    from veille.service import grants as grant_service
    from veille.service.commands.users import GrantsPage

    grants = handled(open_platform(data_dir), GrantsPage(status=status))
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
    from veille.service.commands.users import DecideGrant

    platform = open_platform(data_dir)
    actor = acting_actor(platform, as_admin, totp)
    grant = handled(
        platform, DecideGrant(grant_id=grant_id, approve=approve, actor=actor, reason=reason)
    )
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
    from veille.service.commands.users import GrantReport

    grants = handled(
        open_platform(data_dir),
        GrantReport(actor=cli_actor(), since=iso_moment(since), until=iso_moment(until)),
    )
    echo_json([grant_service.grant_json(g) for g in grants])

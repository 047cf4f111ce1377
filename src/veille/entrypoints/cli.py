"""The `veille` command: serve, run the demo platform, simulate, manage cameras, bench."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from veille.domain.access import Role, ScopeKind
from veille.entrypoints.cli_analyses import analyses_app
from veille.entrypoints.cli_audit import audit_app
from veille.entrypoints.cli_common import (
    DataDir,
    cli_actor,
    echo_json,
    echo_refusal,
    handled,
    iso_moment,
    open_platform,
    refuse,
    run_refusing,
    settings_for,
    talking_to,
)
from veille.entrypoints.cli_grants import AsAdmin, AsTotp, acting_actor, grants_app, pending_message
from veille.entrypoints.cli_hotlists import alerts_app, hotlists_app
from veille.entrypoints.cli_jobs import holds_app, jobs_app
from veille.settings import Settings

if TYPE_CHECKING:
    from veille.bootstrap import Platform
    from veille.domain.users import User

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
cameras_app = typer.Typer(no_args_is_help=True, help="Camera registry.")
users_app = typer.Typer(no_args_is_help=True, help="Accounts.")
dead_app = typer.Typer(no_args_is_help=True, help="Rejected payloads kept for inspection.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks that print a table (or --json).")
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
orgs_app = typer.Typer(no_args_is_help=True, help="Organisations: zones, federal police, parquets.")
docs_app = typer.Typer(no_args_is_help=True, help="Pages of docs/ generated from the code.")
app.add_typer(cameras_app, name="cameras")
app.add_typer(users_app, name="users")
users_app.add_typer(grants_app, name="grants")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(bench_app, name="bench")
app.add_typer(db_app, name="db")
app.add_typer(orgs_app, name="orgs")
app.add_typer(docs_app, name="docs")
app.add_typer(audit_app, name="audit")
app.add_typer(jobs_app, name="jobs")
app.add_typer(holds_app, name="holds")
app.add_typer(hotlists_app, name="hotlists")
app.add_typer(alerts_app, name="alerts")
app.add_typer(analyses_app, name="analyse")


def _show_version(wanted: bool) -> None:
    if wanted:
        from veille import __version__

        typer.echo(f"veille {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Options of `veille` itself, before any command (the help text is the module's)."""


@app.command()
def serve(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
) -> None:
    """Run the HTTP API on the embedded store until stopped (SIGINT/SIGTERM: clean stop)."""
    import uvicorn

    from veille import __version__
    from veille.bootstrap import bootstrap
    from veille.entrypoints.api.app import create_app
    from veille.entrypoints.runtime import configure_logging, tune_garbage_collector

    settings = settings_for(data_dir)
    configure_logging()
    platform = bootstrap(settings)
    tune_garbage_collector(settings.gc_gen0_threshold)
    address, listen = host or settings.host, port or settings.port
    typer.echo(
        f"Veille {__version__} serving http://{address}:{listen}"
        f" (store: {settings.store_label}); Ctrl-C or SIGTERM stops it",
        err=True,
    )
    uvicorn.run(
        create_app(platform),
        host=address,
        port=listen,
        log_level="info",  # start-up, the address, shutdown and errors; no access log
        access_log=False,
        http="httptools",
        loop="uvloop",
        timeout_graceful_shutdown=10,
        timeout_keep_alive=settings.http_keep_alive_s,
    )
    typer.echo("Veille stopped.", err=True)


@app.command()
def run(
    data_dir: DataDir = None,
    cameras: Annotated[int, typer.Option(help="Simulated cameras.")] = 450,
    rate: Annotated[float, typer.Option(help="Reads per second across the network.")] = 200.0,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 1,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
    port: Annotated[int | None, typer.Option(help="API port.")] = None,
) -> None:
    """The main job: the platform on the embedded store with a simulated camera network."""
    from veille.entrypoints.mainjob import run_main_job

    settings = settings_for(data_dir)
    if port:
        settings = settings.model_copy(update={"port": port})
    sys.exit(run_main_job(settings, cameras=cameras, rate=rate, seed=seed, duration=duration))


@app.command()
def simulate(
    url: Annotated[str, typer.Option(help="Base URL of the Veille API.")] = "http://127.0.0.1:8600",
    admin_token: Annotated[
        str | None, typer.Option(envvar="VEILLE_ADMIN_TOKEN", help="Administrator bearer token.")
    ] = None,
    cameras: Annotated[int, typer.Option(help="Number of cameras.")] = 450,
    rate: Annotated[float, typer.Option(help="Reads per second.")] = 200.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    duration: Annotated[float | None, typer.Option(help="Seconds to run.")] = None,
    total: Annotated[int | None, typer.Option(help="Stop after this many reads.")] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="Inject a scenario: route, convoy, near-point, misread, clone."),
    ] = None,
    fast: Annotated[
        bool, typer.Option(help="As fast as the server takes it: a history ending about now.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Reads per request at most (1–1000).")] = 200,
    concurrency: Annotated[int, typer.Option(help="Parallel HTTP connections.")] = 8,
    reissue_tokens: Annotated[
        bool,
        typer.Option(
            help="Take over cameras registered already by issuing them new ingest tokens"
            " (whatever posts with the old ones, such as `make run`, is then refused)."
        ),
    ] = False,
) -> None:
    """Drive simulated cameras against a running server, as the cameras themselves would."""
    from veille.entrypoints.mainjob import simulate_against
    from veille.simulator.client import SimulatorError

    if not admin_token:
        typer.echo(
            "an administrator token is needed (--admin-token or VEILLE_ADMIN_TOKEN)", err=True
        )
        raise typer.Exit(2)
    try:
        with talking_to(url):
            code = simulate_against(
                url=url,
                admin_token=admin_token,
                cameras=cameras,
                rate=rate,
                seed=seed,
                duration=duration,
                total=total,
                scenarios=scenario or [],
                realtime=not fast,
                batch_size=batch_size,
                concurrency=concurrency,
                reissue_tokens=reissue_tokens,
            )
    except SimulatorError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    sys.exit(code)


# ---- users -------------------------------------------------------------------------


def _password(password_stdin: bool, *, confirm: bool = True) -> str:
    """The password from stdin (asked for, or piped in without a terminal), then
    $VEILLE_PASSWORD, then a prompt; scripts and CI have no terminal to prompt on."""
    env = os.environ.get("VEILLE_PASSWORD") or os.environ.get("VEILLE_ADMIN_PASSWORD")
    if password_stdin or (not env and not sys.stdin.isatty()):
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            typer.echo(
                'no password: pipe it in (echo "$PASSWORD" | veille ... --password-stdin)'
                " or set VEILLE_PASSWORD",
                err=True,
            )
            raise typer.Exit(2)
        return password
    if env:
        return env
    try:
        first = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != first:
            typer.echo("passwords differ", err=True)
            raise typer.Exit(2)
    except EOFError:
        typer.echo("no password given", err=True)
        raise typer.Exit(2) from None
    return first


@users_app.command("create-admin")
def create_admin(
    username: Annotated[str, typer.Option(help="Login name.")] = "admin",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create the first administrator of a fresh install (password: prompt, stdin or
    $VEILLE_ADMIN_PASSWORD)."""
    from veille.service.commands.users import CreateFirstAdmin

    platform = open_platform(data_dir)
    user = handled(
        platform,
        CreateFirstAdmin(
            username=username,
            password=_password(password_stdin),
            actor=cli_actor(),  # the bootstrap: recorded as run at the server's shell
        ),
    )
    typer.echo(f"administrator {user.username} created (user id {user.user_id})")


@users_app.command("token")
def user_token(
    username: Annotated[str, typer.Argument(help="Login name.")],
    name: Annotated[str, typer.Option(help="Label of the token.")] = "cli",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
    totp: Annotated[str | None, typer.Option(help="One-time code, when enrolled.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Sign in and print a bearer token (shown once). Password: prompt, stdin or
    $VEILLE_PASSWORD."""
    from veille.service.commands.users import SignIn

    signed_in = handled(
        open_platform(data_dir),
        SignIn(
            username=username,
            password=_password(password_stdin, confirm=False),
            totp_code=totp,
            user_agent="veille-cli",
            issue="api",
            token_name=name,
        ),
    )
    typer.echo(signed_in.token)


@users_app.command("create")
def users_create(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[Role, typer.Option(help="The account's role.")],
    org: Annotated[str, typer.Option(help="Organisation id.")],
    designated: Annotated[bool, typer.Option(help="Designated for ANPR use.")] = False,
    training_expires: Annotated[
        str | None, typer.Option(help="Training certificate expiry (ISO date-time).")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the account needs access.")] = None,
    as_admin: AsAdmin = None,
    as_totp: AsTotp = None,
    data_dir: DataDir = None,
) -> None:
    """Create a user (password: prompt, stdin or $VEILLE_PASSWORD). With a data-access or
    administrator role, or designated, the account waits for a second administrator."""
    from veille.domain.users import User
    from veille.service.commands.users import CreateUser

    platform = open_platform(data_dir)
    made = handled(
        platform,
        CreateUser(
            username=username,
            password=_password(password_stdin),
            role=role,
            org_id=org,
            display_name=display_name,
            designated=designated,
            training_expires=iso_moment(training_expires),
            actor=acting_actor(platform, as_admin, as_totp),
            reason=reason,
        ),
    )
    if isinstance(made, User):
        typer.echo(f"user {made.username} created (user id {made.user_id}, role {made.role.value})")
    else:
        typer.echo(f"user {made.username} requested; {pending_message(made.grant_id)}")


@users_app.command("list")
def users_list(data_dir: DataDir = None) -> None:
    """List users with role, organisation, designation and training."""
    from veille.service.commands.users import UsersPage

    platform = open_platform(data_dir)
    for u in handled(platform, UsersPage()):
        state = "deleted" if u.deleted_at else ("locked" if u.locked(platform.clock()) else "")
        training = u.training_expires.date().isoformat() if u.training_expires else "none"
        typer.echo(
            f"{u.user_id:>4} {u.username:<20} {u.role.value:<16} {u.org_id:<20}"
            f" designated={'yes' if u.designated else 'no':<3} training={training} {state}"
        )


@users_app.command("update")
def users_update(
    username: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[Role | None, typer.Option(help="New role.")] = None,
    org: Annotated[str | None, typer.Option(help="New organisation id.")] = None,
    designated: Annotated[bool | None, typer.Option(help="Designated for ANPR use.")] = None,
    training_expires: Annotated[str | None, typer.Option(help="New expiry (ISO).")] = None,
    unlock: Annotated[bool, typer.Option(help="Lift a lock-out.")] = False,
    reset_totp: Annotated[bool, typer.Option(help="Remove the second factor.")] = False,
    new_password: Annotated[bool, typer.Option(help="Set a new password (prompt).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why the account needs access.")] = None,
    as_admin: AsAdmin = None,
    as_totp: AsTotp = None,
    data_dir: DataDir = None,
) -> None:
    """Change a user; every change is audited. Nobody changes their own role,
    designation, training or organisation; a change that widens data access waits for a
    second administrator."""
    from veille.service.commands.users import UpdateUser

    platform = open_platform(data_dir)
    user = _user_named(platform, username)
    _, grant = handled(
        platform,
        UpdateUser(
            user_id=user.user_id,
            actor=acting_actor(platform, as_admin, as_totp),
            role=role,
            org_id=org,
            designated=designated,
            training_expires=iso_moment(training_expires),
            unlock=unlock,
            reset_totp=reset_totp,
            password=_password(False) if new_password else None,
            reason=reason,
        ),
    )
    typer.echo(f"user {username} updated")
    if grant is not None:
        typer.echo(f"access change for {username}: {pending_message(grant.grant_id)}")


@users_app.command("delete")
def users_delete(username: str, data_dir: DataDir = None) -> None:
    """Close an account: its tokens and sessions stop working at once."""
    from veille.service.commands.users import DeleteUser

    platform = open_platform(data_dir)
    user = _user_named(platform, username)
    handled(platform, DeleteUser(user_id=user.user_id, actor=cli_actor()))
    typer.echo(f"user {username} deleted")


@users_app.command("totp")
def users_totp(username: str, data_dir: DataDir = None) -> None:
    """Enrol a user's TOTP second factor; prints the secret and otpauth URI once."""
    from veille.service.commands.users import EnrolTotp

    platform = open_platform(data_dir)
    user = _user_named(platform, username)
    enrolment = handled(
        platform, EnrolTotp(user_id=user.user_id, actor=cli_actor(), by_administrator=True)
    )
    typer.echo(f"secret: {enrolment.secret}")
    typer.echo(f"uri:    {enrolment.otpauth_uri}")


@orgs_app.command("create")
def orgs_create(
    org_id: Annotated[str, typer.Argument(help="Short id, e.g. pz-midi, parquet-bruxelles.")],
    name: Annotated[str, typer.Option(help="Full name.")],
    kind: Annotated[str, typer.Option(help="local_zone, federal, judicial or other.")],
    scope: Annotated[ScopeKind, typer.Option(help="What the organisation may see.")],
    scope_value: Annotated[
        str | None, typer.Option(help="Zone, province or district name.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create an organisation: a police zone, the federal police, a prosecutor's office."""
    from veille.domain.access import Scope
    from veille.service.commands.users import CreateOrganisation

    handled(
        open_platform(data_dir),
        CreateOrganisation(
            org_id=org_id,
            name=name,
            kind=kind,
            scope=Scope(scope, scope_value),
            actor=cli_actor(),
        ),
    )
    typer.echo(f"organisation {org_id} created")


@orgs_app.command("list")
def orgs_list(data_dir: DataDir = None) -> None:
    """List organisations and their scopes."""
    from veille.service.commands.users import Organisations

    for o in handled(open_platform(data_dir), Organisations()):
        typer.echo(
            f"{o.org_id:<24} {o.kind:<11} {o.scope.kind.value}:{o.scope.value or '-'}  {o.name}"
        )


def _user_named(platform: Platform, username: str) -> User:
    """The open account with this name, or a refusal (not found)."""
    from veille.service.commands.users import UserNamed
    from veille.service.users import UserNotFound

    user: User | None = handled(platform, UserNamed(username))
    if user is None:
        refuse(UserNotFound(f"no user {username}"))
    return user


# ---- cameras -----------------------------------------------------------------------


@cameras_app.command("import")
def cameras_import(
    file: Annotated[Path, typer.Argument(help="A .csv or .geojson file.", exists=True)],
    tokens_out: Annotated[
        Path | None, typer.Option(help="Write the new ingest tokens here (JSON, mode 600).")
    ] = None,
    issue_tokens: Annotated[str, typer.Option(help="new | all | none")] = "new",
    data_dir: DataDir = None,
) -> None:
    """Create or update cameras from CSV or GeoJSON; all or nothing."""
    from veille.adapters.camera_import import ImportFormatError, decode, guess_format
    from veille.service.commands.cameras import ImportCameras

    platform = open_platform(data_dir)
    try:
        records = decode(file.read_text("utf-8"), guess_format(file.name))
    except ImportFormatError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    report = handled(
        platform, ImportCameras(records=records, issue_tokens=issue_tokens, actor=cli_actor())
    )
    echo_json(report.as_dict(with_tokens=False))
    if not report.applied:
        raise typer.Exit(1)
    if report.tokens:
        if tokens_out:
            tokens_out.touch(mode=0o600)
            tokens_out.write_bytes(orjson.dumps(report.tokens, option=orjson.OPT_INDENT_2))
            typer.echo(f"{len(report.tokens)} ingest tokens written to {tokens_out}")
        else:
            typer.echo("ingest tokens (shown once):")
            for camera_id, token in report.tokens.items():
                typer.echo(f"  {camera_id}\t{token}")


def _phase(text: str):  # type: ignore[no-untyped-def]
    """The phase named on the command line; another word is a usage error (exit 2)."""
    from veille.domain.cameras import Phase

    try:
        return Phase(text.strip().lower())
    except ValueError:
        choices = ", ".join(p.value for p in Phase)
        typer.echo(f"refused: phase must be one of {choices}, not {text!r}", err=True)
        raise typer.Exit(2) from None


@cameras_app.command("list")
def cameras_list(
    zone: Annotated[str | None, typer.Option(help="Only this police zone.")] = None,
    phase: Annotated[str | None, typer.Option(help="planned|testing|live|retired")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List cameras."""
    from veille.domain.cameras import camera_to_json
    from veille.service.commands.cameras import CamerasPage

    query = CamerasPage(zone=zone, phase=_phase(phase) if phase else None)
    cams = handled(open_platform(data_dir), query)
    if as_json:
        echo_json([camera_to_json(c) for c in cams])
        return
    typer.echo(f"{'camera':<22} {'phase':<8} {'zone':<36} {'lat':>9} {'lon':>9}  vendor")
    for c in cams:
        typer.echo(
            f"{c.camera_id:<22} {c.phase.value:<8} {c.zone:<36}"
            f" {c.lat:>9.5f} {c.lon:>9.5f}  {c.vendor}"
        )
    typer.echo(f"{len(cams)} cameras")


@cameras_app.command("show")
def cameras_show(camera_id: str, data_dir: DataDir = None) -> None:
    """Show one camera."""
    from veille.domain.cameras import camera_to_json
    from veille.service.commands.cameras import CameraById

    echo_json(camera_to_json(handled(open_platform(data_dir), CameraById(camera_id))))


@cameras_app.command("retire")
def cameras_retire(camera_id: str, data_dir: DataDir = None) -> None:
    """Retire a camera: history kept, credential revoked, no more posting."""
    from veille.service.commands.cameras import RetireCamera

    cam = handled(open_platform(data_dir), RetireCamera(camera_id=camera_id, actor=cli_actor()))
    typer.echo(f"{cam.camera_id} retired at {cam.retired_at}")


@cameras_app.command("phase")
def cameras_phase(
    camera_id: Annotated[str, typer.Argument(help="The camera.")],
    phase: Annotated[str, typer.Argument(help="planned, testing, live (or retired).")],
    data_dir: DataDir = None,
) -> None:
    """Move a camera to another connection phase (audited; a retired camera stays retired).

    The server picks the change up within VEILLE_CAMERA_CACHE_S (2 s)."""
    from veille.domain.cameras import camera_to_json
    from veille.service.commands.cameras import ChangeCameraPhase

    command = ChangeCameraPhase(camera_id=camera_id, phase=_phase(phase), actor=cli_actor())
    echo_json(camera_to_json(handled(open_platform(data_dir), command)))


@cameras_app.command("token")
def cameras_token(camera_id: str, data_dir: DataDir = None) -> None:
    """Issue a new ingest token for one camera (shown once; the old one stops working)."""
    from veille.service.commands.cameras import ReissueCameraToken

    command = ReissueCameraToken(camera_id=camera_id, actor=cli_actor())
    typer.echo(handled(open_platform(data_dir), command))


# ---- dead letters ------------------------------------------------------------------


@dead_app.command("list")
def dead_list(
    status: Annotated[str, typer.Option(help="open | replayed | discarded | all")] = "open",
    limit: Annotated[int, typer.Option(help="At most this many.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output with payloads.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List rejected payloads with what was wrong."""
    from veille.service.commands.dead_letters import DeadLettersPage
    from veille.service.dead_letters import dead_letter_to_json

    query = DeadLettersPage(status=None if status == "all" else status, limit=limit)
    items = handled(open_platform(data_dir), query)
    if as_json:
        echo_json([dead_letter_to_json(d) for d in items])
        return
    for d in items:
        first = d.errors[0] if d.errors else {}
        typer.echo(
            f"#{d.id:<6} {d.received_at:%Y-%m-%d %H:%M:%S} {d.camera_id or '-':<20} {d.status:<9}"
            f" {first.get('field', '')}: {first.get('reason', '')}"
            + (f" (+{len(d.errors) - 1} more)" if len(d.errors) > 1 else "")
        )
    typer.echo(f"{len(items)} dead letters")


@dead_app.command("replay")
def dead_replay(
    ids: Annotated[list[int] | None, typer.Argument(help="Dead letter ids.")] = None,
    all_open: Annotated[bool, typer.Option("--all", help="Every open dead letter.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Run dead letters through ingest again (after fixing the cause).

    Their reads are stored by this command's own ingest writer and matched against the
    hotlists, as a server would."""
    from veille.service.commands.dead_letters import DeadLettersPage, ReplayDeadLetter
    from veille.service.errors import VeilleError

    platform = open_platform(data_dir)
    targets = list(ids or [])
    if all_open:
        targets += [d.id for d in handled(platform, DeadLettersPage(limit=100_000))]
    if not targets:
        typer.echo("name dead letter ids or use --all", err=True)
        raise typer.Exit(2)
    failed = 0
    platform.start()  # the writer that commits the replayed reads
    try:
        for dead_id in targets:
            try:
                outcome = platform.bus.handle(
                    ReplayDeadLetter(dead_letter_id=dead_id, actor=cli_actor())
                )
            except VeilleError as exc:  # this letter is refused; the others still run
                echo_refusal(exc)
                failed += 1
                continue
            failed += outcome.status != "replayed"
            echo_json(outcome.as_dict())
    finally:
        platform.stop()
    raise typer.Exit(1 if failed else 0)


@dead_app.command("discard")
def dead_discard(
    dead_letter_id: int,
    reason: Annotated[str, typer.Option(help="Why it is discarded (kept on record).")],
    data_dir: DataDir = None,
) -> None:
    """Mark a dead letter as discarded, with the reason."""
    from veille.service.commands.dead_letters import DiscardDeadLetter

    command = DiscardDeadLetter(dead_letter_id=dead_letter_id, reason=reason, actor=cli_actor())
    handled(open_platform(data_dir), command)
    typer.echo(f"dead letter {dead_letter_id} discarded")


# ---- database and benchmarks ---------------------------------------------------------


@db_app.command("migrate")
def db_migrate(data_dir: DataDir = None) -> None:
    """Apply pending migrations."""
    from veille.bootstrap import bootstrap
    from veille.service.commands.store import MigrateStore

    state = handled(bootstrap(settings_for(data_dir)), MigrateStore())
    if state.applied:
        typer.echo(f"applied migrations {', '.join(f'{v:04d}' for v in state.applied)}")
    typer.echo(f"schema at version {state.version}")


@bench_app.command("ingest")
def bench_ingest(
    reads: Annotated[int, typer.Option(help="Reads to send end to end.")] = 200_000,
    batch: Annotated[int, typer.Option(help="Reads per request.")] = 1000,
    concurrency: Annotated[
        int, typer.Option(help="Concurrent HTTP connections (cameras posting at once).")
    ] = 16,
    cameras: Annotated[int, typer.Option(help="Cameras posting (fewer: fuller batches).")] = 50,
    duplicates: Annotated[float, typer.Option(help="Share of re-sent reads.")] = 0.01,
    synchronous: Annotated[str, typer.Option(help="SQLite synchronous level.")] = "FULL",
    rounds: Annotated[
        int, typer.Option(help="Rounds of end to end then raw, taking turns.", min=1)
    ] = 2,
    images: Annotated[
        bool,
        typer.Option(
            "--images", help="Each read with a 3 KB plate crop and a 25 KB overview, inline."
        ),
    ] = False,
    prefill: Annotated[
        int, typer.Option(help="Reads already in the store before each timed run.", min=0)
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Sustained reads/s over HTTP into the embedded store vs. raw SQLite inserts at the
    writer's measured commit size, both counted in the store, in alternating rounds."""
    from veille.bench.ingest import IngestBenchConfig, print_table, run_ingest_bench

    result = run_ingest_bench(
        IngestBenchConfig(
            reads=reads,
            batch=batch,
            concurrency=concurrency,
            cameras=cameras,
            duplicate_share=duplicates,
            synchronous=synchronous,
            rounds=rounds,
            images=images,
            prefill=prefill,
        )
    )
    if as_json:
        echo_json(result)
    else:
        print_table(result)


@docs_app.command("permissions")
def docs_permissions() -> None:
    """Print the API permission matrix (docs/permissions.md) from the code."""
    import tempfile

    from veille.bootstrap import bootstrap
    from veille.entrypoints.api.app import create_app
    from veille.entrypoints.api.matrix import matrix_markdown

    with tempfile.TemporaryDirectory() as tmp:
        typer.echo(matrix_markdown(create_app(bootstrap(Settings(data_dir=Path(tmp))))), nl=False)


@docs_app.command("districts")
def docs_districts() -> None:
    """Print the judicial district mapping in force (VEILLE_DISTRICT_MAP_FILE, else the
    Belgian default) as JSON, in the format of that file: a starting point to edit."""
    from veille.adapters.district_config import district_map_json, load_district_map

    mapping = load_district_map(Settings().district_map_file)
    typer.echo(orjson.dumps(district_map_json(mapping), option=orjson.OPT_INDENT_2).decode())


@docs_app.command("configuration")
def docs_configuration() -> None:
    """Print the settings reference (docs/configuration.md) from the code."""
    from veille.settings import settings_markdown

    typer.echo(settings_markdown(), nl=False)


@bench_app.command("alerts")
def bench_alerts(
    background_rate: Annotated[
        float, typer.Option(help="Other reads/s ingested meanwhile.")
    ] = 5000,
    probes: Annotated[int, typer.Option(help="Listed reads whose alerts are timed.")] = 1000,
    entries: Annotated[int, typer.Option(help="Hotlist entries.")] = 10_000,
    stop_background_after: Annotated[
        float | None,
        typer.Option(hidden=True, help="Stop the background early: the run must then fail."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Time from the server receiving a listed read to its alert on the live channel.

    Fails (exit 1) unless every probe ran with background ingest in flight and raised
    its alert."""
    from veille.bench.alerts import AlertBenchConfig, print_table, run_alert_bench

    result = run_alert_bench(
        AlertBenchConfig(
            background_rate=background_rate,
            probes=probes,
            hotlist_entries=entries,
            stop_background_after_s=stop_background_after,
        )
    )
    if as_json:
        echo_json(result)
    else:
        print_table(result)
    if not result["ok"]:
        for problem in result["problems"]:
            typer.echo(f"bench alerts failed: {problem}", err=True)
        raise typer.Exit(1)


@bench_app.command("matcher")
def bench_matcher(
    entries: Annotated[int, typer.Option(help="Hotlist entries to index.")] = 1_000_000,
    reads: Annotated[
        int, typer.Option(help="Simulated reads to match, every one (none filtered).")
    ] = 50_000,
    seed: Annotated[int, typer.Option(help="Seed of the generated lists and traffic.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Hotlist matcher as the server runs it: build from the store, memory, µs per
    simulated read, share of reads that alert, a national-list replacement under load."""
    from veille.bench.matcher import MatcherBenchConfig, print_table, run_matcher_bench

    result = run_matcher_bench(MatcherBenchConfig(entries=entries, reads=reads, seed=seed))
    if as_json:
        echo_json(result)
    else:
        print_table(result)


@bench_app.command("search")
def bench_search(
    sizes: Annotated[
        str, typer.Option(help="Store sizes in reads, comma-separated (1000000 for a quick run).")
    ] = "10000000",
    scopes: Annotated[
        str, typer.Option(help="Scopes to search in, comma-separated: zone, province, national.")
    ] = "zone,province,national",
    warm: Annotated[bool, typer.Option("--warm/--no-warm", help="Time warm-cache runs.")] = True,
    cold: Annotated[
        bool,
        typer.Option(
            "--cold/--no-cold",
            help="Time cold runs: the store evicted from the page cache before each run.",
        ),
    ] = True,
    runs_light: Annotated[
        int, typer.Option(help="Timed runs per light analysis (plate, partial, area, journey).")
    ] = 200,
    runs_heavy: Annotated[
        int, typer.Option(help="Timed runs per heavy analysis (convoy, scenes, clone sweep).")
    ] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the generated stores (cache name).")] = 2026,
    stores: Annotated[Path, typer.Option(help="Folder where generated stores are cached.")] = Path(
        "/tmp/veille-bench-stores"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Latency (p50/p95) of each analysis through the query service, by scope, warm and cold."""
    from veille.bench.search import RunCounts, print_scoped_table, run_scoped_search_bench
    from veille.bench.search_scopes import SCOPE_NAMES

    try:
        wanted = tuple(int(s.strip().replace("_", "")) for s in sizes.split(",") if s.strip())
    except ValueError:
        raise typer.BadParameter("sizes must be whole numbers of reads, comma-separated") from None
    chosen = tuple(s.strip() for s in scopes.split(",") if s.strip())
    if not chosen or any(s not in SCOPE_NAMES for s in chosen):
        raise typer.BadParameter(f"scopes must be among {', '.join(SCOPE_NAMES)}")
    modes = tuple(mode for mode, on in ((False, warm), (True, cold)) if on)
    if not modes:
        raise typer.BadParameter("--no-warm and --no-cold leave nothing to time")
    if runs_light < 1 or runs_heavy < 1:
        raise typer.BadParameter("runs must be at least 1")
    result = run_scoped_search_bench(
        sizes=wanted,
        scopes=chosen,
        modes=modes,
        runs=RunCounts(light=runs_light, heavy=runs_heavy),
        seed=seed,
        folder=stores,
        log=lambda message: typer.echo(message, err=True),
    )
    if as_json:
        echo_json(result)
    else:
        print_scoped_table(result)


@bench_app.command("contention")
def bench_contention(
    reads: Annotated[int, typer.Option(help="Size of the generated store (cached).")] = 10_000_000,
    rate: Annotated[float, typer.Option(help="Offered reads/s, one read per submission.")] = 1600.0,
    seconds: Annotated[float, typer.Option(help="Length of each phase (at most 60).")] = 45.0,
    searchers: Annotated[int, typer.Option(help="Concurrent investigators.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the generated store (cache name).")] = 2026,
    stores: Annotated[Path, typer.Option(help="Folder where generated stores are cached.")] = Path(
        "/tmp/veille-bench-stores"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Ingest commit latency and 503s alone, with 20 searches and a clone sweep, with their
    audit kept elsewhere (diagnostic), and with the searches holding the write lock."""
    from veille.bench.contention import ContentionBenchConfig, print_table, run_contention_bench

    if not 0 < seconds <= 60:
        raise typer.BadParameter("seconds must be in (0, 60]: the writer keeps a minute")
    result = run_contention_bench(
        ContentionBenchConfig(
            reads=reads, rate=rate, seconds=seconds, searchers=searchers, seed=seed
        ),
        folder=stores,
        log=lambda message: typer.echo(message, err=True),
    )
    if as_json:
        echo_json(result)
    else:
        print_table(result)


@bench_app.command("retention")
def bench_retention(
    old: Annotated[int, typer.Option(help="Reads captured 12–14 months ago.")] = 300_000,
    recent: Annotated[int, typer.Option(help="Reads of the last 12 months (kept).")] = 50_000,
    submitters: Annotated[int, typer.Option(help="Concurrent ingest threads.")] = 4,
    batch: Annotated[int, typer.Option(help="Reads per ingest submission.")] = 1000,
    job_batch: Annotated[int, typer.Option(help="Reads per retention transaction.")] = 2000,
    pause: Annotated[float, typer.Option(help="Seconds the job pauses between batches.")] = 0.05,
    synchronous: Annotated[str, typer.Option(help="SQLite synchronous level.")] = "FULL",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Ingest reads/s without, then with, the retention job deleting old reads."""
    from veille.bench.retention import RetentionBenchConfig, print_table, run_retention_bench

    result = run_retention_bench(
        RetentionBenchConfig(
            old_reads=old,
            recent_reads=recent,
            submitters=submitters,
            batch=batch,
            job_batch_size=job_batch,
            pause_s=pause,
            synchronous=synchronous,
        )
    )
    if as_json:
        echo_json(result)
    else:
        print_table(result)


@bench_app.command("national")
def bench_national(
    cameras: Annotated[
        int, typer.Option(help="Cameras, each on its own connection.", min=1)
    ] = 10_000,
    steps: Annotated[
        str, typer.Option(help="Load steps: multiples of the 1,600 reads/s peak, and max.")
    ] = "1x,2x,5x,max",
    step_seconds: Annotated[
        float, typer.Option(help="Seconds of each step (max: three tries of a third each).")
    ] = 180.0,
    prefill_reads: Annotated[
        int, typer.Option(help="Reads in the (cached) store before the run; 0: an empty store.")
    ] = 50_000_000,
    store_folder: Annotated[
        Path, typer.Option(help="Folder of the cached prefilled store.")
    ] = Path("/tmp/veille-bench-stores"),
    investigators: Annotated[int, typer.Option(help="Investigators running analyses.")] = 20,
    operators: Annotated[int, typer.Option(help="Operators on the live alert stream.")] = 50,
    hotlist_entries: Annotated[
        int, typer.Option(help="Entries of the `bench matcher` hotlists.", min=100)
    ] = 1_000_000,
    generator_processes: Annotated[
        int, typer.Option(help="Load generator processes (one tops out at ~3,500 reads/s).")
    ] = 1,
    profile: Annotated[
        bool, typer.Option("--profile", help="py-spy record of the server into --out.")
    ] = False,
    out: Annotated[
        Path, typer.Option(help="Folder for the plan, records, logs and report.")
    ] = Path("bench-national"),
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """10,000 cameras posting one read at a time with images, into a full store, with
    hotlists, operators, investigators and the jobs at work: a table per load step."""
    from veille.bench.national.report import format_report
    from veille.bench.national.run import NationalConfig, run_national

    names = tuple(s.strip() for s in steps.split(",") if s.strip())
    config = NationalConfig(
        out=out,
        cameras=cameras,
        steps=names,
        step_seconds=step_seconds,
        prefill_reads=prefill_reads,
        store_folder=store_folder,
        investigators=investigators,
        operators=operators,
        hotlist_entries=hotlist_entries,
        generator_processes=generator_processes,
        profile=profile,
    )
    try:
        from veille.bench.national.run import parse_steps

        parse_steps(names, step_seconds=step_seconds)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    report = run_national(config, log=lambda message: typer.echo(message, err=True))
    (out / "report.txt").write_text(format_report(report))
    if as_json:
        echo_json(report)
    else:
        typer.echo(format_report(report), nl=False)


def main() -> None:
    run_refusing(app)


if __name__ == "__main__":
    main()

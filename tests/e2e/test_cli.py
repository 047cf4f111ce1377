"""The `veille` command: cameras, users, dead letters, docs, and the main job."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from veille.adapters.sqlite.database import connect
from veille.entrypoints.cli import app
from veille.entrypoints.server_process import free_port
from veille.simulator.network import build_network, network_csv, network_geojson

pytestmark = pytest.mark.e2e
runner = CliRunner()


def cli_login() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


def veille(data: Path, *args: str, stdin: str | None = None):
    result = runner.invoke(app, [*args, "--data-dir", str(data)], input=stdin)
    return result


def test_camera_lifecycle_from_csv_and_geojson(tmp_path):
    data = tmp_path / "var"
    sites = build_network(cameras=12, seed=3)
    csv_file = tmp_path / "cams.csv"
    csv_file.write_text(network_csv(sites[:6]))
    geo_file = tmp_path / "cams.geojson"
    geo_file.write_text(json.dumps(network_geojson(sites[6:])))
    tokens = tmp_path / "tokens.json"

    done = veille(data, "cameras", "import", str(csv_file), "--tokens-out", str(tokens))
    assert done.exit_code == 0, done.output
    assert json.loads(done.output.split("\n6 ingest tokens")[0])["created"] == 6
    assert oct(tokens.stat().st_mode & 0o777) == "0o600"
    assert len(json.loads(tokens.read_text())) == 6
    shown_once = veille(data, "cameras", "import", str(geo_file))
    assert shown_once.exit_code == 0 and "ingest tokens (shown once)" in shown_once.output

    listed = veille(data, "cameras", "list", "--json")
    assert len(json.loads(listed.output)) == 12
    first = sites[0].camera_id
    shown = json.loads(veille(data, "cameras", "show", first).output)
    assert shown["camera_id"] == first and shown["phase"] == "live"

    token = veille(data, "cameras", "token", first).output.strip()
    assert token.startswith("vc_")
    moved = veille(data, "cameras", "phase", first, "testing")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["phase"] == "testing"
    assert json.loads(veille(data, "cameras", "show", first).output)["phase"] == "testing"
    assert veille(data, "cameras", "phase", first, "live").exit_code == 0
    wrong = veille(data, "cameras", "phase", first, "sleeping")
    assert wrong.exit_code == 2 and "planned, testing, live, retired" in wrong.output
    assert veille(data, "cameras", "phase", "NOPE", "live").exit_code == 1
    assert veille(data, "cameras", "retire", first).exit_code == 0
    assert json.loads(veille(data, "cameras", "show", first).output)["phase"] == "retired"
    back = veille(data, "cameras", "phase", first, "live")
    assert back.exit_code == 1 and "retired camera stays retired" in back.output
    assert veille(data, "cameras", "token", first).exit_code == 1  # retired: no credential
    assert veille(data, "cameras", "show", "NOPE").exit_code == 1


def test_bad_camera_file_applies_nothing_and_says_where(tmp_path):
    data = tmp_path / "var"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "camera_id,lat,lon,zone,province\n"
        "OK-1,50.85,4.35,Midi,Bruxelles-Capitale\n"
        "BAD-1,48.85,2.35,Midi,Bruxelles-Capitale\n"
    )
    result = veille(data, "cameras", "import", str(bad))
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["applied"] is False
    assert report["problems"] == [
        {"where": "line 3", "field": "lat/lon", "reason": "(48.85, 2.35) is outside Belgium"}
    ]
    assert json.loads(veille(data, "cameras", "list", "--json").output) == []


def test_first_admin_token_and_users(tmp_path, monkeypatch):
    data = tmp_path / "var"
    monkeypatch.setenv("VEILLE_PASSWORD", "a long admin password")
    assert veille(data, "users", "create-admin", "--username", "chief").exit_code == 0
    again = veille(data, "users", "create-admin", "--username", "other")
    assert again.exit_code == 1 and "already exists" in again.output
    token = veille(data, "users", "token", "chief")
    assert token.exit_code == 0 and token.output.strip().startswith("vu_")
    assert (
        veille(
            data,
            "orgs",
            "create",
            "pz-midi",
            "--name",
            "Zone Midi",
            "--kind",
            "local_zone",
            "--scope",
            "zone",
            "--scope-value",
            "Midi",
        ).exit_code
        == 0
    )
    made = veille(
        data,
        "users",
        "create",
        "ines",
        "--role",
        "investigator",
        "--org",
        "pz-midi",
        "--designated",
        "--training-expires",
        "2099-01-01",
    )
    # a data-access account waits for a second administrator: the shell is one pair of eyes
    assert made.exit_code == 0, made.output
    assert "pending" in made.output and "ines" not in veille(data, "users", "list").output
    pending = json.loads(veille(data, "users", "grants", "list", "--status", "pending").output)
    [grant] = pending
    assert (grant["username"], grant["requested_by"]["username"]) == ("ines", cli_login())
    own = veille(data, "users", "grants", "approve", str(grant["grant_id"]))
    monkeypatch.setenv("VEILLE_AS_PASSWORD", "a long admin password")
    assert own.exit_code == 1 and "cannot decide" in own.output
    approved = veille(data, "users", "grants", "approve", str(grant["grant_id"]), "--as", "chief")
    assert approved.exit_code == 0, approved.output
    listing = veille(data, "users", "list").output
    assert "ines" in listing and "investigator" in listing and "designated=yes" in listing
    # nobody changes their own access, from the shell either
    self_promotion = veille(data, "users", "update", "chief", "--designated", "--as", "chief")
    assert self_promotion.exit_code == 1 and "own" in self_promotion.output
    widened = veille(data, "users", "update", "ines", "--org", "federal", "--as", "chief")
    assert widened.exit_code == 0 and "pending" in widened.output
    refused = veille(data, "users", "grants", "refuse", "1", "--reason", "no need")
    assert refused.exit_code == 1  # grant 1 is chief's own bootstrap record: not pending
    grant_id = json.loads(veille(data, "users", "grants", "list", "--status", "pending").output)[0][
        "grant_id"
    ]
    refused = veille(data, "users", "grants", "refuse", str(grant_id), "--reason", "no need")
    assert refused.exit_code == 0, refused.output
    report = json.loads(veille(data, "users", "grants", "report").output)
    assert [g["status"] for g in report] == ["bootstrap", "approved", "refused"]
    assert report[1]["decided_by"]["username"] == "chief"
    assert veille(data, "users", "delete", "ines").exit_code == 0
    assert "deleted" in veille(data, "users", "list").output
    monkeypatch.setenv("VEILLE_PASSWORD", "wrong password here")
    assert veille(data, "users", "token", "chief").exit_code == 1


def test_dead_letters_list_and_replay_from_the_cli(tmp_path):
    from datetime import timedelta

    from tests.conftest import make_read, register_cameras
    from veille.adapters.decoders.native_json import validate_batch
    from veille.bootstrap import bootstrap
    from veille.service.ingest import commit_batches
    from veille.settings import Settings

    data = tmp_path / "var"
    platform = bootstrap(Settings(data_dir=data))
    platform.store.initialise()
    register_cameras(platform, "CAM-A")
    now = platform.clock()
    ahead = make_read("CAM-A", captured_at=(now + timedelta(minutes=2)).isoformat())
    bad = make_read("CAM-A", confidence=7, captured_at=(now - timedelta(minutes=20)).isoformat())
    batch = validate_batch(
        [ahead, bad],
        camera_id="CAM-A",
        now=now - timedelta(minutes=10),
        rules=platform.read_rules,
        images=None,
    )
    commit_batches(platform.uow(), [batch])
    platform.store.close()

    listed = veille(data, "dead-letters", "list")
    assert "captured_at: is in the future" in listed.output
    assert "confidence: must be between 0 and 1" in listed.output
    replayed = veille(data, "dead-letters", "replay", "--all")
    assert replayed.exit_code == 1  # one is still bad
    outcomes = [
        json.loads(chunk) for chunk in replayed.output.replace("}\n{", "}\x00{").split("\x00")
    ]
    assert sorted(o["status"] for o in outcomes) == ["replayed", "still_rejected"]
    still = json.loads(veille(data, "dead-letters", "list", "--json").output)
    assert len(still) == 1 and still[0]["errors"][0]["field"] == "confidence"
    assert (
        veille(
            data,
            "dead-letters",
            "discard",
            str(still[0]["id"]),
            "--reason",
            "camera firmware bug, fixed",
        ).exit_code
        == 0
    )
    assert json.loads(veille(data, "dead-letters", "list", "--json").output) == []


def test_main_job_runs_registers_streams_and_stops_cleanly_on_ctrl_c(tmp_path):
    """Ctrl-C at a terminal goes to the whole foreground process group: the main job must
    still flush the simulator before it stops the server, and write the ground truth."""
    data = tmp_path / "var"
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "veille",
            "run",
            "--data-dir",
            str(data),
            "--port",
            str(port),
            "--cameras",
            "60",
            "--rate",
            "150",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if (
            "reads/s" in line
            and "stored" in line
            and int(line.split("stored")[1].split("|")[0].replace(",", "")) > 200
        ):
            break
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal's Ctrl-C does
    out, _ = proc.communicate(timeout=60)
    text = "".join(lines) + out
    assert proc.returncode == 0, text
    assert "First administrator created" in text
    assert "Server stopped cleanly." in text
    conn = connect(data / "veille.db")
    cameras = conn.execute("SELECT count(*) FROM cameras").fetchone()[0]
    reads = conn.execute("SELECT count(*) FROM reads").fetchone()[0]
    grants = conn.execute("SELECT username, status, requested_by FROM user_grants").fetchall()
    conn.close()
    # the demo accounts come from the privileged bootstrap path, and say so
    assert {(name, status) for name, status, _ in grants} == {
        ("admin", "bootstrap"),
        ("operator", "bootstrap"),
    }
    assert {orjson.loads(by)["username"] for _, _, by in grants} == {"setup", "main-job"}
    assert cameras == 60
    assert reads > 200
    truth = orjson.loads((data / "ground-truth.json").read_bytes())
    assert truth["cancelled"] is True and truth["ground_truth"]
    assert truth["pending"] == 0 and truth["failed"] == 0, truth  # every read acknowledged
    assert truth["stored"] + truth["duplicate"] <= reads
    assert "Alerts are no longer printed" not in text
    log = (data / "server.log").read_text()
    assert f"serving http://127.0.0.1:{port}" in log and "Application startup complete" in log


def _veille_process(*args: str, stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`veille` in a process of its own, in a new session: no terminal, as in a script."""
    return subprocess.run(
        [sys.executable, "-m", "veille", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        start_new_session=True,
        timeout=120,
    )


def test_user_token_without_a_terminal_reads_the_password_from_stdin_or_the_environment(
    tmp_path,
):
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    password = "a long admin password"
    made = _veille_process(
        "users", "create-admin", "--data-dir", str(data), stdin=password + "\n", env=env
    )
    assert made.returncode == 0, made.stderr
    piped = _veille_process(
        "users", "token", "admin", "--data-dir", str(data), stdin=password, env=env
    )
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.strip().startswith("vu_") and "Warning" not in piped.stderr
    explicit = _veille_process(
        "users",
        "token",
        "admin",
        "--password-stdin",
        "--data-dir",
        str(data),
        stdin=password + "\n",
        env={**env, "VEILLE_PASSWORD": "not this one"},
    )
    assert explicit.returncode == 0 and explicit.stdout.startswith("vu_"), explicit.stderr
    from_env = _veille_process(
        "users",
        "token",
        "admin",
        "--data-dir",
        str(data),
        stdin="",
        env={**env, "VEILLE_PASSWORD": password},
    )
    assert from_env.returncode == 0 and from_env.stdout.startswith("vu_"), from_env.stderr
    nothing = _veille_process("users", "token", "admin", "--data-dir", str(data), stdin="", env=env)
    assert nothing.returncode == 2
    assert "VEILLE_PASSWORD" in nothing.stderr and "--password-stdin" in nothing.stderr
    assert "Traceback" not in nothing.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["analyse", "plate", "1ABC123", "--purpose", "p", "--case", "CASE-1", "--start", "-1d"],
        ["simulate", "--total", "10", "--cameras", "3"],
    ],
)
def test_an_unreachable_server_is_one_line_and_exit_code_3(command):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    done = runner.invoke(
        app,
        [
            *command,
            "--url",
            url,
            "--token" if command[0] == "analyse" else "--admin-token",
            "some-token",
        ],
    )
    assert done.exit_code == 3, done.output
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cannot reach the Veille server at {url}: ")
    assert "Traceback" not in done.output


def test_version_is_printed_and_matches_the_package():
    from veille import __version__

    done = runner.invoke(app, ["--version"])
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"veille {__version__}"


def test_docs_districts_prints_the_mapping_in_force_as_a_file_it_can_load(tmp_path, monkeypatch):
    default = runner.invoke(app, ["docs", "districts"])
    assert default.exit_code == 0, default.output
    mapping = orjson.loads(default.output)
    assert mapping["provinces"]["Vlaams-Brabant"] == "Leuven"
    assert mapping["zones"]["Zennevallei"] == "Brussel/Bruxelles"
    mapping["cameras"] = {"CAM-7": "Eupen"}
    edited = tmp_path / "districts.json"
    edited.write_bytes(orjson.dumps(mapping))
    monkeypatch.setenv("VEILLE_DISTRICT_MAP_FILE", str(edited))
    again = runner.invoke(app, ["docs", "districts"])
    assert orjson.loads(again.output) == mapping

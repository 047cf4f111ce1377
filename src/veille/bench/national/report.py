"""The national bench's report: what was recorded during the run, turned into one row per
load step, a summary and the printed tables. Pure: no I/O, no clock."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from veille.bench.national.alert_join import alert_latency, nearest_rank
from veille.bench.national.loadgen import backlog_grows

Sample = Mapping[str, Any]  # a ProcSample as a dict: at, role, pid, cpu_s, rss_kb


def bucket_percentile(buckets: Mapping[str, int], q: float) -> int | None:
    """The upper bound of the power-of-two bucket holding the q-th share of the counts
    (`{"4": 90, "64": 10}`, q=0.99 → 64); None when there are none."""
    ordered = sorted((int(k), n) for k, n in buckets.items() if n > 0)
    total = sum(n for _, n in ordered)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bound, n in ordered:
        seen += n
        if seen >= rank:
            return bound
    return ordered[-1][0]


def bucket_delta(first: Mapping[str, int], last: Mapping[str, int]) -> dict[str, int]:
    return {k: n - first.get(k, 0) for k, n in last.items() if n - first.get(k, 0) > 0}


def _between(
    stats: Sequence[tuple[float, Mapping[str, Any]]], start: float, end: float
) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
    """The stats sample just before `start` (or the first after) and the last before `end`."""
    before = [s for at, s in stats if at <= start]
    inside = [s for at, s in stats if start < at <= end]
    first = before[-1] if before else (inside[0] if inside else None)
    last = inside[-1] if inside else None
    if first is None or last is None or first is last:
        return None
    return first, last


def writer_window(
    stats: Sequence[tuple[float, Mapping[str, Any]]], start: float, end: float
) -> dict[str, Any]:
    """The writer over a window, from /api/v1/ingest/stats: commits, reads per commit,
    mean commit time (busy seconds / commits), commit p50/p99 (bucket bounds, ms), the
    reads refused 503 busy, and the largest queue seen."""
    pair = _between(stats, start, end)
    if pair is None:
        return {"commits": 0}
    first, last = pair
    commits = int(last["commits"]) - int(first["commits"])
    stored = int(last["stored"]) - int(first["stored"])
    busy = float(last["writer_busy_s"]) - float(first["writer_busy_s"])
    took = bucket_delta(first.get("commit_ms_le", {}), last.get("commit_ms_le", {}))
    queued = [int(s.get("writer_queued_reads", 0)) for at, s in stats if start < at <= end]
    return {
        "commits": commits,
        "reads_per_commit": round(stored / commits, 1) if commits else None,
        "commit_mean_ms": round(busy * 1000.0 / commits, 2) if commits else None,
        "commit_p50_ms_le": bucket_percentile(took, 0.5),
        "commit_p99_ms_le": bucket_percentile(took, 0.99),
        "commit_max_ms_le": max((int(k) for k in took), default=None),
        "commit_ms_le": took,
        "busy_share": round(busy / (end - start), 3) if end > start else None,
        "refused_busy": int(last.get("refused_busy", 0)) - int(first.get("refused_busy", 0)),
        "queued_max": max(queued, default=0),
    }


def processes_window(samples: Iterable[Sample], start: float, end: float) -> dict[str, Any]:
    """Per role: CPU in cores (CPU seconds per second over the window, summed over the
    role's processes) and RSS (summed over its processes at each sample) mean and peak."""
    by_role: dict[str, list[Sample]] = {}
    for s in samples:
        if start <= s["at"] <= end:
            by_role.setdefault(s["role"], []).append(s)
    out: dict[str, Any] = {}
    for role, rows in sorted(by_role.items()):
        per_pid: dict[int, list[Sample]] = {}
        per_time: dict[float, int] = {}
        for r in rows:
            per_pid.setdefault(r["pid"], []).append(r)
            per_time[r["at"]] = per_time.get(r["at"], 0) + int(r["rss_kb"])
        cpu = sum(p[-1]["cpu_s"] - p[0]["cpu_s"] for p in per_pid.values())
        times = sorted(per_time)
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        rss = list(per_time.values())
        out[role] = {
            "processes": len(per_pid),
            "cpu_cores": round(cpu / span, 3) if span > 0 else None,
            "rss_mean_mib": round(sum(rss) / len(rss) / 1024, 1),
            "rss_peak_mib": round(max(rss) / 1024, 1),
        }
    return out


def searches_window(
    searches: Iterable[Mapping[str, Any]], start: float, end: float
) -> dict[str, Any]:
    """Per analysis and scope: how many ran (started in the window), errors, p50/p95 ms."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for s in searches:
        if start <= s["started_at"] < end:
            groups.setdefault(f"{s['analysis']}/{s['scope']}", []).append(s)
    out: dict[str, Any] = {}
    for key, rows in sorted(groups.items()):
        ok = sorted(r["ms"] for r in rows if r["status"] == 200)
        out[key] = {
            "runs": len(rows),
            "errors": sum(1 for r in rows if r["status"] != 200),
            "statuses": sorted({int(r["status"]) for r in rows if r["status"] != 200}),
            "p50_ms": _round(nearest_rank(ok, 0.5)),
            "p95_ms": _round(nearest_rank(ok, 0.95)),
        }
    return out


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def backlog_trend(series: Sequence[int]) -> dict[str, Any]:
    """The backlog over a step (one value a second): first, last, max and its least-squares
    slope in reads per second per second (> 0: it grew)."""
    if not series:
        return {"first": None, "last": None, "max": None, "slope_per_s": None}
    n = len(series)
    mean_x, mean_y = (n - 1) / 2, sum(series) / n
    var = sum((x - mean_x) ** 2 for x in range(n))
    cov = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(series))
    return {
        "first": series[0],
        "last": series[-1],
        "max": max(series),
        "slope_per_s": round(cov / var, 2) if var else 0.0,
    }


def step_row(
    step: Mapping[str, Any],
    *,
    stats: Sequence[tuple[float, Mapping[str, Any]]],
    samples: Sequence[Sample],
    searches: Sequence[Mapping[str, Any]],
    first_sent_at: Mapping[str, float],
    arrivals: Iterable[tuple[str, float]],
    jobs: Sequence[Mapping[str, Any]],
    replacement: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One load step's row: the load generator's StepResult (as a dict) with what the
    orchestrator saw meanwhile. `first_sent_at` holds this step's acknowledged reads only."""
    start, end = float(step["started_at"]), float(step["ended_at"])
    alerts = alert_latency(first_sent_at=first_sent_at, arrivals=arrivals)
    ack = step["ack_latency"]
    series = list(step.get("backlog_series") or [])
    rate = float(step["offered_rate"])
    return {
        "step": step["step"],
        "seconds": round(end - start, 1),
        "offered_rate": step["offered_rate"],
        "acknowledged_rate": step["acknowledged_rate"],
        "offered": step["offered"],
        "acknowledged": step["acknowledged"],
        "ack_p50_ms": ack["p50_ms"],
        "ack_p99_ms": ack["p99_ms"],
        "ack_p999_ms": ack["p999_ms"],
        "status_503": step["status_503"],
        "resends": step["resends"],
        "timeouts": step["timeouts"],
        "backlog": {**backlog_trend(series), "grows": backlog_grows(series, rate)},
        "generator_lag_p99_ms": step["generator_lag_p99_ms"],
        "generator_limited": step["generator_limited"],
        "sustainable": step.get("sustainable"),
        "highest_sustainable_rate": step.get("highest_sustainable_rate"),
        "tried_rates": step.get("tried_rates") or [],
        "alerts": {
            "p50_ms": _round(alerts.p50_ms),
            "p99_ms": _round(alerts.p99_ms),
            "samples": alerts.alerts,
        },
        "searches": searches_window(searches, start, end),
        "writer": writer_window(stats, start, end),
        "processes": processes_window(samples, start, end),
        "jobs": [j for j in jobs if j.get("step") == step["step"]],
        "hotlist_replacement": bool(replacement and replacement.get("step") == step["step"]),
        "loadgen": step,
    }


def replacement_memory(
    replacement: Mapping[str, Any] | None, samples: Sequence[Sample], settle_s: float
) -> dict[str, Any] | None:
    """The server's RSS before a full hotlist replacement and its peak from the request
    until `settle_s` after the answer (the index is rebuilt after the commit)."""
    if not replacement:
        return None
    start, answered = float(replacement["started_at"]), float(replacement["answered_at"])
    server = [s for s in samples if s["role"] == "server"]
    before = [s["rss_kb"] for s in server if s["at"] <= start]
    during = [s["rss_kb"] for s in server if start <= s["at"] <= answered + settle_s]
    return {
        **replacement,
        "server_rss_before_mib": round(before[-1] / 1024, 1) if before else None,
        "server_rss_peak_mib": round(max(during) / 1024, 1) if during else None,
        "window_s": round(answered + settle_s - start, 1),
    }


def build_report(
    *,
    config: Mapping[str, Any],
    steps: Sequence[Mapping[str, Any]],
    acks_by_step: Mapping[str, Mapping[str, float]],
    arrivals: Sequence[tuple[str, float]],
    stats: Sequence[tuple[float, Mapping[str, Any]]],
    samples: Sequence[Sample],
    searches: Sequence[Mapping[str, Any]],
    jobs: Sequence[Mapping[str, Any]],
    replacement: Mapping[str, Any] | None,
    exactly_once: Mapping[str, Any],
    done: Mapping[str, Any],
    setup: Mapping[str, Any],
    machine: Mapping[str, Any],
    replacement_settle_s: float = 60.0,
) -> dict[str, Any]:
    """Everything the run recorded, as the JSON `--json` prints."""
    all_sent = {r: t for m in acks_by_step.values() for r, t in m.items()}
    rows = [
        step_row(
            s,
            stats=stats,
            samples=samples,
            searches=searches,
            first_sent_at=acks_by_step.get(s["step"], {}),
            arrivals=arrivals,
            jobs=jobs,
            replacement=replacement,
        )
        for s in steps
    ]
    start = min((float(s["started_at"]) for s in steps), default=0.0)
    end = max((float(s["ended_at"]) for s in steps), default=0.0)
    overall = alert_latency(first_sent_at=all_sent, arrivals=arrivals)
    return {
        "benchmark": "national",
        "config": dict(config),
        "machine": dict(machine),
        "setup": dict(setup),
        "steps": rows,
        "summary": {
            "alerts": {
                "p50_ms": _round(overall.p50_ms),
                "p99_ms": _round(overall.p99_ms),
                "samples": overall.alerts,
                "unmatched": overall.unmatched,
            },
            "processes": processes_window(samples, start, end),
            "searches": searches_window(searches, start, end),
            "hotlist_replacement": replacement_memory(replacement, samples, replacement_settle_s),
            "jobs": list(jobs),
            "exactly_once": dict(exactly_once),
            "loadgen_done": dict(done),
        },
    }


# ---- the printed tables ------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _cores(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(head)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return lines


def step_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    head = (
        "step", "s", "offered/s", "acked/s", "ack p50/p99/p99.9 ms", "503s", "resends",
        "backlog first→last (slope/s)", "alert p50/p99 ms (n)", "commit p50/p99 ms ≤",
        "server CPU", "gen. lag p99 ms",
    )  # fmt: skip
    out = []
    for r in rows:
        b, a, w = r["backlog"], r["alerts"], r["writer"]
        server = r["processes"].get("server", {})
        lag = _cell(r["generator_lag_p99_ms"]) + (" LIMITED" if r["generator_limited"] else "")
        out.append(
            (
                r["step"] + (" (hotlist replaced)" if r["hotlist_replacement"] else ""),
                r["seconds"],
                r["offered_rate"],
                r["acknowledged_rate"],
                f"{_cell(r['ack_p50_ms'])} / {_cell(r['ack_p99_ms'])} / {_cell(r['ack_p999_ms'])}",
                r["status_503"],
                r["resends"],
                f"{_cell(b['first'])}→{_cell(b['last'])} ({_cell(b['slope_per_s'])})"
                + (" grows" if b["grows"] else ""),
                f"{_cell(a['p50_ms'])} / {_cell(a['p99_ms'])} ({a['samples']:,})",
                f"{_cell(w.get('commit_p50_ms_le'))} / {_cell(w.get('commit_p99_ms_le'))}",
                _cores(server.get("cpu_cores")),
                lag,
            )
        )
    return _table(head, out)


def search_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """p95 ms of each analysis and scope, one column per step."""
    keys = sorted({k for r in rows for k in r["searches"]})
    head = ["analysis/scope", *(f"{r['step']} p95 ms (runs)" for r in rows)]
    out = []
    for key in keys:
        cells: list[Any] = [key]
        for r in rows:
            s = r["searches"].get(key)
            if s is None:
                cells.append(None)
            else:
                errors = f", {s['errors']} errors" if s["errors"] else ""
                cells.append(f"{_cell(s['p95_ms'])} ({s['runs']}{errors})")
        out.append(cells)
    return _table(head, out)


def process_table(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> list[str]:
    head = ("step", "process", "count", "CPU cores (mean)", "RSS mean MiB", "RSS peak MiB")
    out = []
    for label, procs in [
        *((r["step"], r["processes"]) for r in rows),
        ("run", summary["processes"]),
    ]:
        for role, p in procs.items():
            out.append(
                (
                    label,
                    role,
                    p["processes"],
                    _cores(p["cpu_cores"]),
                    p["rss_mean_mib"],
                    p["rss_peak_mib"],
                )
            )
    return _table(head, out)


def format_report(report: Mapping[str, Any]) -> str:
    m, c, s = report["machine"], report["config"], report["summary"]
    rows = report["steps"]
    lines = [
        f"veille bench national — {m.get('cpu')}, {m.get('cores')} cores,"
        f" {m.get('memory_gib')} GiB, Python {m.get('python')}, SQLite {m.get('sqlite')};"
        f" load average before {m.get('load_average_before')}, after {m.get('load_average')}",
        f"{c['cameras']:,} cameras, one read per request with images; store of"
        f" {report['setup'].get('store_reads', 0):,} reads before the run;"
        f" {report['setup'].get('hotlist_entries', 0):,} hotlist entries;"
        f" {c['investigators']} investigators, {c['operators']} operators; steps of"
        f" {c['step_seconds']} s",
        "",
        *step_table(rows),
        "",
        "Search under load (p95 ms, runs started during the step):",
        *search_table(rows),
        "",
        "Processes (CPU: cores busy, from /proc; RSS summed over each role's processes):",
        *process_table(rows, s),
        "",
    ]
    for r in rows:
        if r["tried_rates"]:
            tried = ", ".join(
                f"{t['rate']:,.0f}/s {'ok' if t['sustainable'] else 'no'}" for t in r["tried_rates"]
            )
            lines.append(
                f"{r['step']}: highest sustainable rate"
                f" {_cell(r['highest_sustainable_rate'])} reads/s (tried: {tried})"
            )
    limited = [r["step"] for r in rows if r["generator_limited"]]
    if limited:
        lines.append(
            f"generator-limited steps (the load generator, not the server, may have set the"
            f" pace; read their figures with care): {', '.join(limited)}"
        )
    a = s["alerts"]
    lines.append(
        f"alerts camera send → operator screen over the run: p50 {_cell(a['p50_ms'])} ms,"
        f" p99 {_cell(a['p99_ms'])} ms over {a['samples']:,} alerts"
    )
    hr = s["hotlist_replacement"]
    if hr:
        lines.append(
            f"full replacement of {hr['list_id']} ({hr['entries']:,} entries) during"
            f" {hr['step']}: {hr['seconds']} s to answer; server RSS"
            f" {_cell(hr['server_rss_before_mib'])} MiB before,"
            f" peak {_cell(hr['server_rss_peak_mib'])} MiB within {hr['window_s']} s"
        )
    for j in s["jobs"]:
        lines.append(
            f"job {j['name']} during {j['step']}: {j['seconds']} s, exit {j['returncode']}"
        )
    e = s["exactly_once"]
    lines.append(
        f"exactly once: {'YES' if e['verdict'] else 'NO'} — {e['stored_once']:,} of"
        f" {e['acknowledged']:,} acknowledged reads stored once ({e['missing']:,} missing,"
        f" {e['duplicated']:,} duplicated), {e['image_rows_expected'] - e['image_rows_missing']:,}"
        f" of {e['image_rows_expected']:,} images with their row"
        f" ({e['image_bytes_missing']:,} inline without their bytes,"
        f" {e['image_bytes_wrong']:,} of {e['image_bytes_checked']:,} re-hashed wrong);"
        f" {e['unacknowledged_stored']:,} of {e['unacknowledged']:,} unacknowledged reads"
        f" stored anyway"
    )
    return "\n".join(lines) + "\n"

"""Chat soak: N chat clients at a human rate for minutes, server memory sampled all along.

Builds a fresh instance as ``bench/chat.py`` does (SQLite, or a PostgreSQL database of its own
plus Redis as the Socket.IO message queue), creates ``--clients / 2`` HCP/staff pairs with active
consented conversations, starts the server as ``make run`` does (``python wsgi.py``), signs every
user in over HTTP, connects every client to ``/chat`` and joins its conversation. Then each
client sends one message every ``--interval`` seconds (default 2; each gap drawn uniformly
between 0.75 and 1.25 times the interval, from a random phase) for ``--minutes`` (default 5).

Every ``--sample-seconds`` (default 10) the server's VmRSS (``/proc/<pid>/status``) and the
counters (sent, acknowledged, delivered, pending) are sampled and printed on stderr. At the end:
sent, acknowledged, delivered, lost (acknowledged, never received by the peer after a drain of
up to 30 s), duplicated, out of order, errors (Socket.IO error acknowledgements, acknowledgements
not received within 30 s, clients disconnected during the run, HTTP 5xx at sign-in, ERROR
records in the server's log, e.g. a failed round of the in-process jobs worker), p50/p99
send-to-receive latency per minute, and the server's RSS:

- warm-up: the first minute of traffic (a third of the run when it is shorter than 3 minutes),
  when caches, the SQLAlchemy pool and the per-connection buffers fill;
- ``start``: the first sample at or after the warm-up; ``end``: the last sample, taken when the
  traffic stops; ``peak``: the largest sample of the whole run;
- ``rss_slope_mb_per_min``: least-squares slope over the samples from the warm-up on;
- ``rss_growth_mb``: mean of the last third of those samples minus the mean of the first third.

Bounds (``met``; ``--enforce-target`` exits 2 when one is missed):

- ``rss_slope_mb_per_min`` <= 2.0. At the default 500 clients x 0.5 message/s = 250 messages/s,
  2 MB/min is about 140 bytes kept per message: a leak of anything per message (a payload, an
  ack callback, a session row) is well above it. Measured on SQLite (bench/README.md): 0.96
  MB/min (4.3 before SQLite writers waited for each other as greenlets: seconds-long freezes
  queued 500 messages at once);
- ``end`` <= 1.25 x ``start``;
- lost == 0, duplicated == 0, out of order == 0, errors == 0, every client connected.

    .venv/bin/python bench/soak.py                              # SQLite, 500 clients, 5 minutes
    .venv/bin/python bench/soak.py --clients 50 --minutes 1     # quick check
    .venv/bin/python bench/soak.py --backend postgresql --json  # PostgreSQL + Redis

Everything runs on 127.0.0.1, under a hard wall-clock limit (the run plus a setup margin that
grows with the clients). The script raises its own RLIMIT_NOFILE soft limit to the hard limit
(the server inherits it): 500 clients are 1,000 sockets, 500 on each side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.chat import (  # noqa: E402 - after the path is set, as when run as a script
    DEFAULT_PG_URL,
    DEFAULT_REDIS_URL,
    Pair,
    Server,
    Side,
    SocketIOClient,
    Tally,
    close_all,
    connect_pairs,
    create_pairs,
    environment,
    instance,
    log,
    percentile,
    sign_in,
)

SLOPE_BOUND_MB_PER_MIN = 2.0
GROWTH_BOUND = 1.25  # end RSS over start RSS
ACK_TIMEOUT = 30.0
DRAIN_SECONDS = 30.0


# --- pure helpers (tested in tests/bench/test_soak.py) ----------------------------------------
def slope_per_minute(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of ``(seconds, value)`` points, per minute; None under two points or
    when every point has the same time."""
    if len(points) < 2:
        return None
    mean_t = statistics.fmean(t for t, _ in points)
    mean_v = statistics.fmean(v for _, v in points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    covariance = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return covariance / spread * 60


def warmup_seconds(duration: float) -> float:
    """The first minute, or a third of a run shorter than three minutes."""
    return min(60.0, duration / 3)


def thirds_growth(values: Sequence[float]) -> float | None:
    """Mean of the last third of ``values`` minus the mean of the first third (None under 3)."""
    if len(values) < 3:
        return None
    third = len(values) // 3
    return statistics.fmean(values[-third:]) - statistics.fmean(values[:third])


def verdict(report: dict[str, Any]) -> list[str]:
    """The bounds a report misses, in words; empty when every bound is met."""
    missed = []
    slope = report["rss_slope_mb_per_min"]
    if slope is None or slope > SLOPE_BOUND_MB_PER_MIN:
        missed.append(f"RSS slope {slope} MB/min > {SLOPE_BOUND_MB_PER_MIN}")
    rss = report["rss_mb"]
    if rss["start"] is None or rss["end"] is None or rss["end"] > rss["start"] * GROWTH_BOUND:
        missed.append(f"end RSS {rss['end']} MB > {GROWTH_BOUND} x start {rss['start']} MB")
    for key in ("lost", "duplicated", "out_of_order", "errors"):
        if report[key]:
            missed.append(f"{key} {report[key]}")
    if report["connected"] != report["clients"]:
        missed.append(f"connected {report['connected']} of {report['clients']} clients")
    if not report["sent"]:
        missed.append("nothing sent")
    return missed


# --- the run ----------------------------------------------------------------------------------
class SoakTally(Tally):
    """``Tally`` plus the latencies of each minute of traffic (by the time of receipt)."""

    def __init__(self) -> None:
        super().__init__()
        self.measuring = True
        self.started = time.perf_counter()
        self.by_minute: dict[int, list[float]] = {}

    def on_message(self, client: SocketIOClient, message: dict[str, Any]) -> None:
        before = self.delivered
        super().on_message(client, message)
        if self.delivered > before and self.latencies:
            minute = int((time.perf_counter() - self.started) // 60)
            self.by_minute.setdefault(minute, []).append(self.latencies[-1])

    def pending(self) -> int:
        return sum(1 for c in self.acked if c not in self.received)


def raise_file_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit, for this process and the server it starts."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


async def sign_in_everyone(port: int, pairs: list[Pair], errors: Counter[str]) -> None:
    """Every user signs in once over HTTP, two at a time (the server hashes one at a time). A
    failed sign-in is counted (``http_5xx`` for a server error) and stops the run."""
    gate = asyncio.Semaphore(2)
    done = 0

    async def one(pair: Pair, attr: str, email: str) -> None:
        nonlocal done
        async with gate:
            try:
                setattr(pair, attr, await asyncio.to_thread(sign_in, port, email))
            except (RuntimeError, OSError) as exc:
                errors["http_5xx" if "(HTTP 5" in str(exc) else "sign_in"] += 1
                raise
        done += 1
        if done % 100 == 0:
            log(f"  {done} signed in")

    await asyncio.gather(
        *(
            one(p, a, e)
            for p in pairs
            for a, e in (("hcp_cookie", p.hcp_email), ("staff_cookie", p.staff_email))
        )
    )


async def soak(
    server: Server, pairs: list[Pair], args: argparse.Namespace, errors: Counter[str]
) -> dict[str, Any]:
    """Sign in, connect, run the traffic, sample; returns the raw figures."""
    started = time.perf_counter()
    await sign_in_everyone(server.port, pairs, errors)
    log(f"  {2 * len(pairs)} users signed in in {time.perf_counter() - started:.0f} s")
    tally = SoakTally()
    started = time.perf_counter()
    sides = await connect_pairs(server.port, pairs, tally)
    connected = sum(1 for pair in sides for s in pair if not s.client.closed.done())
    log(f"  {connected} clients connected and joined in {time.perf_counter() - started:.0f} s")
    duration = args.minutes * 60
    interval = args.interval
    samples: list[dict[str, Any]] = []
    tally.started = time.perf_counter()
    stop_at = tally.started + duration

    def sample() -> None:
        t = round(time.perf_counter() - tally.started, 1)
        point = {
            "t": t,
            "rss_mb": round(server.rss_kb() / 1024, 1),
            "delivered": tally.delivered,
            "sent": len(tally.sent_at),
            "acked": len(tally.acked),
            "pending": tally.pending(),
            "errors": sum(tally.errors.values()),
        }
        samples.append(point)
        log(
            f"  t={t:6.1f}s rss={point['rss_mb']:7.1f} MB sent={point['sent']} "
            f"acked={point['acked']} delivered={point['delivered']} "
            f"pending={point['pending']} errors={point['errors']}"
        )

    async def sender(side: Side) -> None:
        next_at = tally.started + random.uniform(0, interval)  # noqa: S311 - not a secret
        while True:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if next_at >= stop_at or side.client.closed.done():
                return
            try:
                await asyncio.wait_for(tally.send(side.client, side.conversation_id), ACK_TIMEOUT)
            except TimeoutError:
                tally.errors["ack_timeout"] += 1
            except ConnectionError:
                tally.errors["connection_lost"] += 1
                return
            next_at += interval * random.uniform(0.75, 1.25)  # noqa: S311

    async def sampler() -> None:
        next_at = tally.started
        while next_at < stop_at:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            sample()
            next_at += args.sample_seconds

    tasks = [asyncio.create_task(sender(s)) for pair in sides for s in pair]
    sampling = asyncio.create_task(sampler())
    try:
        await asyncio.sleep(max(0.0, stop_at - time.perf_counter()))
        sampling.cancel()
        sample()  # the end of the traffic
        # Senders stop at their next turn; one still waiting for its ack gets ACK_TIMEOUT.
        await asyncio.wait(tasks, timeout=ACK_TIMEOUT + 2 * interval)
        await tally.drain(DRAIN_SECONDS)
        disconnected = sum(1 for pair in sides for s in pair if s.client.closed.done())
    finally:
        sampling.cancel()
        for task in tasks:
            task.cancel()
        await close_all(sides)
    return {
        "tally": tally,
        "samples": samples,
        "connected": connected,
        "disconnected": disconnected,
    }


def report_of(raw: dict[str, Any], args: argparse.Namespace, errors: Counter[str]) -> Any:
    """The JSON-ready report of a run, with ``met``."""
    tally: SoakTally = raw["tally"]
    samples: list[dict[str, Any]] = raw["samples"]
    duration = args.minutes * 60
    warm = warmup_seconds(duration)
    after = [s for s in samples if s["t"] >= warm]
    errors.update(tally.errors)
    if raw["disconnected"]:
        errors["disconnected"] += raw["disconnected"]
    minutes = max(1, int(-(-duration // 60)))
    latency = []
    for minute in range(minutes):
        values = list(tally.by_minute.get(minute, []))
        if minute == minutes - 1:  # deliveries during the drain count in the last minute
            for later in [m for m in tally.by_minute if m >= minutes]:
                values += tally.by_minute[later]
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        latency.append(
            {
                "minute": minute + 1,
                "messages": len(values),
                "p50": None if p50 is None else round(p50, 2),
                "p99": None if p99 is None else round(p99, 2),
            }
        )
    slope = slope_per_minute([(s["t"], s["rss_mb"]) for s in after])
    growth = thirds_growth([s["rss_mb"] for s in after])
    sent = len(tally.sent_at)
    report: dict[str, Any] = {
        "clients": args.clients,
        "minutes": args.minutes,
        "sent": sent,
        "delivered": tally.delivered,
        "lost": tally.lost(),
        "duplicated": tally.duplicated(),
        "out_of_order": tally.out_of_order,
        "errors": sum(errors.values()),
        "rss_mb": {
            "start": after[0]["rss_mb"] if after else None,
            "end": samples[-1]["rss_mb"] if samples else None,
            "peak": max(s["rss_mb"] for s in samples) if samples else None,
            "connected": samples[0]["rss_mb"] if samples else None,
        },
        "rss_slope_mb_per_min": None if slope is None else round(slope, 3),
        "samples": [{k: s[k] for k in ("t", "rss_mb", "delivered")} for s in samples],
        "latency_ms": latency,
        "met": False,
        # Beyond the contract:
        "backend": args.backend,
        "pairs": args.clients // 2,
        "interval_s": args.interval,
        "connected": raw["connected"],
        "acknowledged": len(tally.acked),
        "unacked": sent - len(tally.acked) - sum(tally.errors.values()),
        "error_kinds": dict(errors),
        "rss_growth_mb": None if growth is None else round(growth, 1),
        "warmup_s": round(warm, 1),
        "bounds": {
            "rss_slope_mb_per_min": SLOPE_BOUND_MB_PER_MIN,
            "end_over_start": GROWTH_BOUND,
            "lost": 0,
            "duplicated": 0,
        },
    }
    report["missed"] = verdict(report)
    report["met"] = not report["missed"]
    return report


def table(report: dict[str, Any]) -> str:
    """The report as markdown."""
    rss = report["rss_mb"]
    lines = [
        f"Soak: {report['clients']} clients ({report['pairs']} pairs), one message every "
        f"~{report['interval_s']:g} s each, {report['minutes']:g} min, {report['backend']}, "
        f"{os.cpu_count()} CPUs",
        "",
        "| sent | acknowledged | delivered | lost | duplicated | out of order | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {report['sent']} | {report['acknowledged']} | {report['delivered']} | "
        f"{report['lost']} | {report['duplicated']} | {report['out_of_order']} | "
        f"{report['errors']} {report['error_kinds'] or ''} |",
        "",
        "| RSS MB: connected | start (after warm-up) | end | peak | slope MB/min | growth MB |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {rss['connected']} | {rss['start']} | {rss['end']} | {rss['peak']} | "
        f"{report['rss_slope_mb_per_min']} | {report['rss_growth_mb']} |",
        "",
        "| minute | messages | p50 ms | p99 ms |",
        "|---:|---:|---:|---:|",
    ]
    for row in report["latency_ms"]:
        lines.append(f"| {row['minute']} | {row['messages']} | {row['p50']} | {row['p99']} |")
    lines.append("")
    bounds = (
        f"slope <= {SLOPE_BOUND_MB_PER_MIN} MB/min, end <= {GROWTH_BOUND} x start, "
        "nothing lost, duplicated or out of order, no errors"
    )
    if report["met"]:
        lines.append(f"Bounds met ({bounds}).")
    else:
        lines.append(f"Bounds MISSED ({bounds}): " + "; ".join(report["missed"]))
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--clients", type=int, default=500, help="connected chat users, two per pair (even)"
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="minutes of traffic")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="mean seconds between a client's messages"
    )
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="RSS sample period")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_PG_URL))
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument(
        "--enforce-target", action="store_true", help="exit 2 when a bound is missed"
    )
    args = parser.parse_args(argv)
    if args.clients < 2 or args.clients % 2:
        parser.error("--clients must be an even number, at least 2 (two per pair)")
    if args.minutes <= 0 or args.interval <= 0 or args.sample_seconds <= 0:
        parser.error("--minutes, --interval and --sample-seconds must be positive")
    return args


def wall_clock_limit(args: argparse.Namespace) -> int:
    """Seconds the whole script may take: the traffic, the drain, and a setup margin for
    creating, signing in and connecting the users (about 0.6 s per client measured; doubled)."""
    return int(args.minutes * 60 + ACK_TIMEOUT + DRAIN_SECONDS + 180 + 1.2 * args.clients)


def server_log(server: Server) -> str:
    """The whole log of a running server (``Server.tail`` keeps the end only)."""
    server.log_file.flush()
    return server.log_path.read_text(errors="replace")


class WallClockExceeded(Exception):
    """The soak ran past its wall-clock limit."""


def _timed_out(signum: int, frame: object) -> None:
    raise WallClockExceeded(f"the soak exceeded its wall-clock limit (signal {signum})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    random.seed(args.seed)
    soft, _ = raise_file_limit()
    limit = wall_clock_limit(args)
    signal.signal(signal.SIGALRM, _timed_out)
    signal.alarm(limit)
    log(f"soak: {args.clients} clients, {args.minutes:g} min, open files {soft}, limit {limit} s")
    errors: Counter[str] = Counter()
    try:
        with (
            instance(args.backend, args.database_url, args.redis_url) as env,
            tempfile.TemporaryDirectory(prefix="bench-soak-logs-") as logs,
        ):
            log(f"{args.backend}: init-db, then {args.clients // 2} pairs")
            flask = str(Path(sys.executable).with_name("flask"))
            subprocess.run(  # noqa: S603 - our own virtualenv's flask
                [flask, "--app", "wsgi", "init-db"], cwd=ROOT, env=env, check=True,
                stdout=subprocess.DEVNULL, timeout=300,
            )  # fmt: skip
            with environment(env):
                pairs = create_pairs(args.clients // 2, log)
            server = Server("portal", [sys.executable, "wsgi.py"], env, Path(logs))
            try:
                server.wait_healthy()
                raw = asyncio.run(soak(server, pairs, args, errors))
                time.sleep(1)  # the server's disconnect handlers finish
                # Read before stopping: a handler interrupted by the stop is not the server's.
                text = server_log(server)
            except BaseException:
                log(server.tail())
                raise
            finally:
                server.stop()
            # One ERROR record per failure (a chained exception prints two tracebacks).
            logged = sum(1 for line in text.splitlines() if " ERROR " in line)
            if logged:
                errors["server_error_logged"] += logged
                kept = Path(tempfile.gettempdir()) / f"bench-soak-server-{os.getpid()}.log"
                kept.write_text(text)
                log(f"{logged} ERROR records in the server's log, kept in {kept}")
    finally:
        signal.alarm(0)
    report = report_of(raw, args, errors)
    print(json.dumps(report) if args.json else table(report))
    return 2 if args.enforce_target and not report["met"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""What a run prints: a line per measured run with what to flag in it, then the table of
medians with the ratio to the baseline server, then the comparisons against their targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bench.cells import Cell
from bench.results import (
    CpuUsage,
    FanoutResult,
    InstructionsResult,
    LatencyResult,
    MemoryResult,
    Result,
    ThroughputResult,
    WebSocketEchoResult,
)
from bench.scenarios import MemoryScenario
from bench.targets import Outcome, ratio_words

CLIENT_SATURATED = 0.9  # load tool CPU per wall second above which a run is flagged
SERVER_BUSY = 0.9  # a throughput run whose server used less of its CPUs than this is flagged
FOREIGN_LOAD = 0.05  # CPU per second others used on the server CPUs above which a run is flagged
# Comparisons of these figures print no metric name (the scenario's own per-second figure).
_PLAIN_METRICS = ("requests_per_sec", "messages_per_sec")


def log(message: str) -> None:
    print(message, flush=True)


# --- a line per run ---------------------------------------------------------------------------


def _foreign_load(cpu: CpuUsage) -> str | None:
    foreign = cpu.foreign
    if foreign is not None and foreign > FOREIGN_LOAD:
        return f"other processes took {foreign:.2f} of the server CPU"
    return None


def _loaded_line(
    label: str, figure: str, client: str, run: ThroughputResult | WebSocketEchoResult, cpus: int
) -> tuple[str, list[str]]:
    """A run that loads the server to its limit (wrk, ws_load): the client must not be the
    limit, and the server must have used its CPUs."""
    cpu = run.cpu
    line = f"{label} {figure}  cpu server {cpu.server or 0:.2f} {client} {cpu.client:.2f}"
    problems = []
    if run.error_count:
        problems.append(f"{client} errors {run.errors}")
    if cpu.client > CLIENT_SATURATED:
        problems.append(f"{client} used its whole core: the client may be the bottleneck")
    foreign = _foreign_load(cpu)
    if foreign:
        problems.append(foreign)
    elif (
        cpu.server is not None
        and cpu.server_cpus_busy is not None
        and cpu.server < SERVER_BUSY * cpus
    ):
        problems.append(
            f"server used only {cpu.server:.2f} CPU: disturbed run "
            "(hypervisor, client) or the server waits on something"
        )
    return line, problems


def _latency_line(label: str, run: LatencyResult) -> tuple[str, list[str]]:
    """Neither a fixed rate nor a memory run loads the server to its limit, and rate_load spins
    on its core by design: of the CPU checks only the one for other processes applies."""
    lat = run.latency_ms
    line = (
        f"{label} {run.achieved_rate:>10,.0f} req/s  p50 {lat['p50']:5.2f} "
        f"p99 {lat['p99']:5.2f} p999 {lat['p999']:5.2f} max {lat['max']:5.2f} ms  "
        f"cpu server {run.cpu.server or 0:.2f}"
    )
    problems = []
    if run.fell_behind:
        # Requests wait for a free connection when the server is slow to answer; if few did,
        # the client itself did not keep up with the schedule.
        who = "server" if run.waited > 0.01 * max(1, run.requests) else "client"
        problems.append(
            f"{who} fell behind: sent {run.send_rate:,.0f} of {run.target_rate:,.0f} req/s "
            f"({run.waited:,} requests waited for a free connection): not latencies at that rate"
        )
    if run.error_count:
        problems.append(f"rate_load errors {run.errors} ({run.first_error})")
    foreign = _foreign_load(run.cpu)
    if foreign:
        problems.append(foreign)
    return line, problems


def _memory_line(label: str, run: MemoryResult) -> tuple[str, list[str]]:
    line = (
        f"{label} {run.kib_per_conn:>10.2f} KiB/conn  RSS "
        f"{run.rss_before_kib / 1024:.1f} -> {run.rss_after_kib / 1024:.1f} MiB "
        f"holding {run.held:,}; {run.open_at_end:,} still open, "
        f"{run.probe_ok}/{run.probed} probes answered"
    )
    problems = []
    if run.error_count:
        problems.append(f"memory errors {run.errors} ({run.first_error})")
    if not run.settled:
        problems.append("RSS still growing when read")
    return line, problems


def _fanout_line(label: str, run: FanoutResult) -> tuple[str, list[str]]:
    """Saturation (its CPU: server group, Redis, client), then the fixed-rate phase."""
    cpu = run.saturation_cpu
    lat = run.latency_ms
    line = (
        f"{label} {run.messages_per_sec:>10,.0f} msgs/s  "
        f"({run.server_us_per_delivery or 0:.1f} us server CPU each)  "
        f"@{run.rate:g}/s p50 {lat['p50']:.2f} p99 {lat['p99']:.2f} ms  "
        f"lost {run.lost}/{run.expected}  cpu server {cpu['server']:.2f} "
        f"redis {cpu['redis']:.2f} fanout_load {cpu['client']:.2f}"
    )
    problems = []
    if run.lost or run.duplicates:
        problems.append(
            f"{run.lost} of {run.expected} deliveries lost, {run.duplicates} duplicated at "
            f"{run.rate:g} messages/s"
        )
    if run.saturation_lost:
        problems.append(f"{run.saturation_lost} deliveries lost at saturation")
    if run.error_count:
        problems.append(f"fanout_load errors {run.errors} ({run.first_error})")
    if run.close_codes:
        problems.append(f"clients closed by the server: {run.close_codes}")
    if cpu["client"] > CLIENT_SATURATED:
        problems.append("fanout_load used its whole core: the client may be the bottleneck")
    foreign = _foreign_load(run.cpu)
    if foreign:
        problems.append(foreign)
    return line, problems


def _instructions_line(label: str, run: InstructionsResult) -> tuple[str, list[str]]:
    """The figure, and the two windows it comes from (a fixed part far from zero, or a
    second process, is worth a look)."""
    windows = ", ".join(
        f"{requests:,} req {instructions / 1e6:,.1f}M"
        for requests, instructions in zip(run.requests, run.instructions, strict=True)
    )
    line = (
        f"{label} {run.instructions_per_request:>10,.0f} instructions/req  (windows {windows}; "
        f"fixed {run.fixed_instructions / 1e3:,.0f}k; {run.processes} process"
        f"{'es' if run.processes != 1 else ''}; {run.window_s:.1f} s under callgrind)"
    )
    problems = []
    if run.bad_status:
        problems.append(f"{run.bad_status} answers were not 2xx")
    return line, problems


def run_line(label: str, run: Result, server_cpu_count: int) -> tuple[str, list[str]]:
    """The progress line of one run, and what to flag in it (each becomes a warning)."""
    match run:
        case ThroughputResult():
            figure = f"{run.requests_per_sec:>10,.0f} req/s  p99 {run.latency_ms['p99']:5.2f} ms"
            return _loaded_line(label, figure, "wrk", run, server_cpu_count)
        case WebSocketEchoResult():
            figure = f"{run.messages_per_sec:>10,.0f} msgs/s" + " " * 13
            return _loaded_line(label, figure, "ws_load", run, server_cpu_count)
        case LatencyResult():
            return _latency_line(label, run)
        case MemoryResult():
            return _memory_line(label, run)
        case FanoutResult():
            return _fanout_line(label, run)
        case InstructionsResult():
            return _instructions_line(label, run)


# --- the summary ------------------------------------------------------------------------------


def print_summary(
    cells: Sequence[Cell],
    baseline: str,
    outcomes: Sequence[Outcome],
    hot_paths: Mapping[str, str] | None = None,
) -> None:
    """The table of medians, which hot path each Berth server ran (``hot_paths``: its
    ``python -m runtime --version`` line by server), then the comparisons."""
    # A scenario with peers of its own (fanout) is divided by its own baseline.
    base_values = {
        cell.scenario.name: cell.median(cell.scenario.ratio_metric)
        for cell in cells
        if cell.server == (cell.scenario.baseline or baseline) and cell.ok
    }
    header = (
        f"{'scenario':<16} {'server':<25} {'value':>10} {'min..max':>17} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'vs ' + baseline:>22}  unit"
    )
    log("\n" + header)
    log("-" * len(header))
    for cell in cells:
        scenario = cell.scenario
        start = f"{scenario.name:<16} {cell.server:<25}"
        values = cell.values(scenario.metric)
        if not cell.ok or not values:
            log(f"{start} ERROR: {cell.error or 'not measured'}")
            continue
        value = cell.median(scenario.metric) or 0.0
        base = base_values.get(scenario.name)
        mine = cell.median(scenario.ratio_metric)
        ratio = f"{round(mine / base, 3):.2f}x" if base and mine is not None else "-"
        warn = "  (warnings: see above)" if cell.warnings else ""
        p50, p99 = cell.median("p50"), cell.median("p99")
        latency = f"{p50:>7.2f} {p99:>7.2f}" if p50 is not None and p99 is not None else " " * 15
        digits = 2 if isinstance(scenario, MemoryScenario) else 0
        spread = f"{min(values):,.{digits}f}..{max(values):,.{digits}f}"
        log(
            f"{start} {value:>10,.{digits}f} {spread:>17} {latency} {ratio:>22}  "
            f"{scenario.unit}{warn}"
        )
    own = {cell.scenario.name: cell.scenario.baseline for cell in cells if cell.scenario.baseline}
    for name, own_baseline in own.items():
        log(f"({name}: ratios against {own_baseline}, its peer, not {baseline})")
    if hot_paths:
        log("Berth's hot path, as `python -m runtime --version` said before each server started:")
        for server, line in hot_paths.items():
            log(f"  {server:<25} {line}")
    for outcome in outcomes:
        comp = outcome.comparison
        name = f"{comp.subject} / {comp.baseline} on {comp.scenario}"
        if outcome.ratio is None:
            log(f"{name}: not measured ({outcome.error})")
            continue
        verdict = "met" if outcome.met else "NOT met"
        sign = ">=" if comp.higher_is_better else "<="
        metric = "" if comp.metric in _PLAIN_METRICS else f" {comp.metric}"
        if comp.informational:
            verdict += ", informational"
        figure = ratio_words(outcome.ratio, comp.target)
        log(f"{name}{metric}: {figure} (target {sign} {comp.target:.2f}x: {verdict})")

"""Every command's arguments, with nothing heavy imported: ``--version`` and ``--help`` load no
driver, numpy or pandas (what a command needs is imported when it runs, ``app.COMMANDS``).

Names are the same across commands: ``--config FILE`` the director's (or agent's) config,
``--out DIR`` the directory a command writes into, ``--broker HOST:PORT`` an MQTT broker,
``--tls-*`` TLS files. Old spellings still work for one release, hidden (``help.old_spelling``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from power_director.cli.help import (
    LazyVersion,
    old_command,
    old_spelling,
    positive_float,
    positive_int,
    with_defaults,
)
from power_director.cli.sim_parser import add_sim_commands, broker_text
from reports.mlperf.rules import (
    CURRENT,
    RULE_TOLERANCE_PCT,
    RULE_WINDOW_S,
    RULE_WINDOWS,
    RULESETS,
    rules_table,
)

Commands = argparse._SubParsersAction  # the subparsers of one parser
RESOLVE_PCT = 2.0  # measure --b-cmd: the difference the A/B test should resolve
TREE_DIR = "mlperf_training"  # training: the tree mlperf_logging reads, inside the session


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="power-director",
        description="Measure wall power during MLPerf LoadGen runs and report MLPerf Power results.",
    )
    parser.add_argument("--version", action=LazyVersion)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_measuring_commands(commands)
    add_measure_command(commands)
    add_training_commands(commands)
    add_file_commands(commands)
    add_remote_commands(commands)
    add_results_commands(commands)
    add_meter_commands(commands)
    add_sim_commands(commands)
    with_defaults(parser)
    return parser


def add_lab_options(command: argparse.ArgumentParser, name: str) -> None:
    """Options ``run`` and ``demo`` share: telemetry, output for scripts, repeat runs."""
    broker = command.add_argument("--broker", type=broker_text, metavar="HOST:PORT",
                                  help="publish live telemetry to this MQTT broker "
                                  "(overrides [telemetry] broker)")
    old_spelling(name, command, broker, "--mqtt")
    output = command.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="print only the final summary and errors")
    output.add_argument("--json", action="store_true", help="print only the final report JSON on stdout")
    command.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                         help="N testing runs after one ranging run (run_1..run_N), with a 95%% interval")


def add_measuring_commands(commands: Commands[argparse.ArgumentParser]) -> None:
    demo = commands.add_parser("demo", help="simulated meter + real LoadGen, no hardware needed")
    demo.add_argument("--out", type=Path, default=Path("power-runs"), metavar="DIR",
                      help="sessions go here")
    demo.add_argument("--seconds", type=positive_float, default=5.0,
                      help="LoadGen minimum duration per phase")
    add_lab_options(demo, "demo")

    run = commands.add_parser("run", help="measure a workload command that writes LoadGen logs")
    run.add_argument("--config", type=Path, metavar="FILE",
                     help="the director's TOML config (power-director check-config --config FILE checks it)")
    run.add_argument("--label", help="names the session directory (default: the config's [session] label)")
    run.add_argument("--out", type=Path, metavar="DIR", help="sessions go here (default: config's out_dir)")
    run.add_argument("--loadgen-logs", type=Path, metavar="DIR", help="where the command writes its "
                     "LoadGen logs (default: it writes to $POWER_DIRECTOR_LOG_DIR)")
    run.add_argument("--reuse-ranging", type=Path, metavar="SESSION_DIR",
                     help="skip ranging: use that earlier session's testing ranges (not MLPerf-valid)")
    add_lab_options(run, "run")
    add_power_dev_options(run)
    run.add_argument("workload", nargs=argparse.REMAINDER, help="-- CMD ...")


def add_power_dev_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--power-dev-conf", type=Path, metavar="SERVER_CONF",
                         help="power-dev's server.conf, unchanged: the director starts the PTDaemon it "
                         "describes (its [ptd]/[analyzerN] sections)")
    command.add_argument("--power-dev", type=Path, metavar="DIR",
                         help="engine mode: measure with power-dev's own, unmodified server.py and "
                         "client.py from this mlcommons/power-dev checkout (the route MLCommons "
                         "accepts today)")
    command.add_argument("--ntp", default="", metavar="ADDRESS",
                         help="engine mode: the NTP server power-dev checks the clock against "
                         "(default: server.conf's ntpServer)")


def add_file_commands(commands: Commands[argparse.ArgumentParser]) -> None:
    check = commands.add_parser("check-config", help="validate a config file and print the effective config")
    check.add_argument("--config", type=Path, metavar="FILE",
                       help="the config file, as run and serve take it")
    check.add_argument("config_file", type=Path, nargs="?", help=argparse.SUPPRESS)  # the old spelling

    report = commands.add_parser(
        "report", help="recompute a session's report, or read any MLPerf power run without writing to it",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="rule sets (--rules):\n" + rules_table(),
    )
    report.add_argument("session_dir", type=Path, metavar="DIR",
                        help="a session directory (e.g. power-runs/2026-11-23_10-36-55_demo-offline) "
                        "or a published MLPerf power run (<scenario>/performance/run_1's parent)")
    report.add_argument("--out", type=Path, metavar="OUT", help="write report.json, report.html and "
                        "power.png here too (a run we did not record: only here, never into DIR)")
    report.add_argument("--json", action="store_true", help="print report.json on stdout")
    report.add_argument("--config", type=Path, metavar="FILE", help="a session whose director died: "
                        "the director's config, to pull its mqtt-stream meters' samples from their agents")
    report.add_argument("--rules", default=CURRENT, choices=list(RULESETS),
                        help=f"judge an imported run by this round's rules (default {CURRENT})")
    report.add_argument("--scenario", help="the results directory's scenario, when DIR is not "
                        "<scenario>/performance (the checker takes the scenario from there)")

    audit = commands.add_parser("audit", help="one row per power run of a submission tree (reads only)")
    audit.add_argument("tree", type=Path, metavar="TREE",
                       help="a submission tree (closed|open/<org>/results/...) or a folder above runs")
    audit_format = audit.add_mutually_exclusive_group()
    audit_format.add_argument("--csv", action="store_true", help="CSV on stdout")
    audit_format.add_argument("--json", action="store_true", help="JSON on stdout")
    audit.add_argument("--jobs", type=positive_int, default=2, help="processes (default 2)")
    audit.add_argument("--rules", default=f"{CURRENT}", help="comma-separated rule sets to judge "
                       f"by (default {CURRENT}; one of {', '.join(RULESETS)})")

    lay = commands.add_parser("submission", help="lay an MLPerf-valid session into MLPerf's submission tree")
    lay.add_argument("session_dir", type=Path, metavar="SESSION_DIR", help="an MLPerf-valid session")
    for name in ("submitter", "system", "model"):
        lay.add_argument(f"--{name}", required=True, help=f"the {name}'s name in the tree")
    lay.add_argument("--division", default="closed", choices=("closed", "open"), help="the division")
    tree = lay.add_argument("--tree", type=Path, required=True, metavar="TREE",
                            help="the submission tree's root")
    old_spelling("submission", lay, tree, "--out")
    lay.add_argument("--allow-invalid", action="store_true",
                     help="lay out a session that is not MLPerf-valid (a dry run of the layout)")


def add_remote_commands(commands: Commands[argparse.ArgumentParser]) -> None:
    serve_cmd = commands.add_parser("serve", help="the director service for remote SUT agents")
    serve_cmd.add_argument("--config", type=Path, metavar="FILE",
                           help="the director's TOML config, with a [service] section")
    add_power_dev_options(serve_cmd)
    commands.add_parser("sources-checksums", help="this release's source hashes, in the format of "
                        "power-dev's compliance/sources_checksums.json")

    agent = commands.add_parser("sut-agent", help="on the SUT: run a workload for a remote director")
    old_command(commands, "agent", "sut-agent")
    agent.add_argument("--director", required=True, metavar="HOST:PORT", help="'power-director serve'")
    agent.add_argument("--token-file", type=Path, metavar="FILE", help="the director's shared secret")
    agent.add_argument("--tls-ca", type=Path, metavar="FILE", help="use TLS, trusting this (CA) certificate")
    agent.add_argument("--label", default="run", help="names the session directory")
    agent.add_argument("--out", type=Path, default=Path("power-runs"), metavar="DIR",
                       help="the finished session and this SUT's LoadGen logs go here")
    agent.add_argument("--loadgen-logs", type=Path, metavar="DIR",
                       help="where the command writes LoadGen logs (default: $POWER_DIRECTOR_LOG_DIR)")
    agent.add_argument("workload", nargs=argparse.REMAINDER, help="-- CMD ...")

    meter_agent = commands.add_parser("meter-agent", help="publish this machine's meters to an MQTT broker")
    meter_agent.add_argument("--config", type=Path, required=True, metavar="FILE",
                             help="[agent] and [[meter]] tables")


def _add_filters(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group("filters (substring, case-insensitive; all must match)")
    group.add_argument("--scenario", help="e.g. Offline")
    group.add_argument("--label", help="the session label, e.g. resnet50")
    group.add_argument("--meter", help="analyzer name, model or driver, e.g. WT310")
    group.add_argument("--system", help="the system under test: [session] system, else the SUT "
                       "agent's host, else the director's")
    group.add_argument("--status", help="completed or aborted")
    valid = group.add_mutually_exclusive_group()
    valid.add_argument("--valid", dest="valid", action="store_const", const=True, default=None,
                       help="only sessions with no failed check")
    valid.add_argument("--invalid", dest="valid", action="store_const", const=False,
                       help="only sessions with a failed check (or no result)")
    group.add_argument("--oldest-first", action="store_true", help="order by start time, oldest first "
                       "(default: newest first)")
    group.add_argument("--limit", type=int, metavar="N", help="at most N sessions (default: all)")


def _add_formats(command: argparse.ArgumentParser) -> None:
    formats = command.add_mutually_exclusive_group()
    formats.add_argument("--csv", action="store_true", help="print the sessions as CSV (the columns of "
                         "power_director.sessions_frame)")
    formats.add_argument("--json", action="store_true", help="print the sessions as a JSON list")
    formats.add_argument("--parquet", type=Path, metavar="FILE",
                         help="write the sessions to a Parquet file (needs pyarrow: "
                         "pip install 'power-director[parquet]')")


def add_results_commands(commands: Commands[argparse.ArgumentParser]) -> None:
    ls = commands.add_parser(
        "ls", aliases=["query"],
        help="list the sessions under an output directory, from its index (index.sqlite)",
    )
    ls.add_argument("out_dir", nargs="?", type=Path, default=Path("power-runs"), metavar="OUT_DIR",
                    help="where the sessions are")
    ls.add_argument("--rebuild", action="store_true",
                    help="rebuild the index from the session directories first (they are the source "
                    "of truth; without it, only what changed is re-read)")
    _add_filters(ls)
    _add_formats(ls)

    compare = commands.add_parser(
        "compare", help="tabulate (and plot) the results of several sessions",
        description="Sessions side by side. Each argument is a session directory, or an output "
        "directory whose indexed sessions (filtered by the options) are all compared. Aborted "
        "sessions are skipped with a warning.",
    )
    compare.add_argument("session_dirs", type=Path, nargs="+", metavar="DIR",
                         help="a session directory, or an output directory of sessions")
    compare.add_argument("--plot", type=Path, metavar="FILE.png", help="also write a bar chart here")
    test = compare.add_argument_group(
        "A/B test", "compare --test A_DIR... -- B_DIR...: is A's efficiency different from B's? "
        "Every run of each side's sessions counts (95 %% Welch interval).")
    test.add_argument("--test", type=Path, nargs="+", metavar="A_DIR",
                      help="side A's sessions; the DIR arguments (after --) are side B's")
    test.add_argument("--metric", help="the figure to test: energy_per_unit_j, energy_j, avg_watts, "
                      "energy_above_idle_j… (default: energy per unit of work where every run has one, "
                      "else energy per run)")
    test.add_argument("--resolve", type=float, default=RESOLVE_PCT, metavar="PCT",
                      help="the difference (%%) to size the runs needed for")
    test.add_argument("--html", type=Path, metavar="FILE.html", help="write the verdict and its plot here")
    _add_filters(compare)
    _add_formats(compare)


def add_meter_commands(commands: Commands[argparse.ArgumentParser]) -> None:
    calibrate = commands.add_parser(
        "calibrate", help="save a beside meter's offset and gain against the certified analyzer of a session"
    )
    calibrate.add_argument("session", type=Path, help="a session with a beside meter")
    calibrate.add_argument("--meter", help="the beside meter's driver name (when there are several)")
    saved = calibrate.add_argument("--calibration-file", type=Path, required=True, metavar="FILE",
                                   help="the calibration file to write (a meter's calibration_file)")
    old_spelling("calibrate", calibrate, saved, "--out")
    advice = commands.add_parser("advise", help="before a run: can the configured meter meet an uncertainty?")
    advice.add_argument("--config", type=Path, required=True, metavar="FILE",
                        help="the config naming the meter")
    advice.add_argument("--watts", type=float, required=True, help="the power you expect")
    advice.add_argument("--seconds", type=float, default=600.0, help="the testing run's length")
    advice.add_argument("--target-pct", type=float, default=1.0, help="the uncertainty wanted, in %%")
    advice.add_argument("--accuracy-pct", type=float, help="the meter's stated accuracy, if it does not say")


def add_measure_command(commands: Commands[argparse.ArgumentParser]) -> None:
    measure = commands.add_parser(
        "measure", help="the energy of any command (no LoadGen needed): J, W, ±, per phase and unit",
        description="Measure a command from its start to its exit. See docs/efficiency-comparisons.md.")
    meter = measure.add_mutually_exclusive_group(required=True)
    meter.add_argument("--config", type=Path, help="a config file naming your meter ([analyzer])")
    meter.add_argument("--meter", choices=["sim"], help="a simulated meter whose power follows the command")
    measure.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    measure.add_argument("--quiet", action="store_true", help="no progress lines")
    measure.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                         help="run the command N times")
    measure.add_argument("--b-cmd", metavar="'CMD B'", help="a second command (shell words), alternated with "
                         "CMD run by run (A, B, A, B…), then the A/B test")
    measure.add_argument("--idle-s", type=float, default=0.0, metavar="S",
                         help="measure S seconds of idle before and after each run")
    measure.add_argument("--work-regex", metavar="RE", help="units of work in the command's output: a "
                         "regular expression with one group, e.g. 'tokens=(\\d+)' (all matches add up)")
    measure.add_argument("--work-unit", metavar="NAME", help="the unit's name (default: the group's name, "
                         "or 'unit')")
    measure.add_argument("--no-estimates", action="store_true",
                         help="no RAPL/NVML/CodeCarbon estimates beside the meter")
    measure.add_argument("--sim-estimate", action="store_true", help="with --meter sim: a second simulated "
                         "meter (0.8 × busy power + 20 W) standing in for a software estimate")
    measure.add_argument("--resolve", type=float, default=RESOLVE_PCT, metavar="PCT",
                         help="with --b-cmd: the difference (%%) the A/B test should resolve")
    measure.add_argument("--label", help="the sessions' label (default: measure-<command>)")
    measure.add_argument("--out", type=Path, help="output directory (default: [session] out_dir, or "
                         "power-runs with --meter sim)")
    measure.add_argument("workload", nargs=argparse.REMAINDER, help="-- CMD ...")


def add_training_commands(commands: Commands[argparse.ArgumentParser]) -> None:
    training = commands.add_parser(
        "training", help="an MLPerf Training job, run by run, and the power files submitters hand in",
        description="Measure a training job whose window is its MLLOG run_start..run_stop, then write "
                    "results/<system>/<benchmark>/power/result_<i>/{node,sw}_<k>.txt with mlperf_logging.")
    meter = training.add_mutually_exclusive_group(required=True)
    meter.add_argument("--config", type=Path,
                       help="a config naming the meters ([analyzer], [[node]], [[switch]])")
    meter.add_argument("--meter", choices=["sim"], help="one simulated node whose power follows the job")
    training.add_argument("--runs", type=positive_int, default=1, metavar="N", help="run the job N times")
    training.add_argument("--mllog", type=Path, help="the file the job writes its MLLOG lines to "
                          "(default: its output)")
    training.add_argument("--benchmark", help="the benchmark's folder name (default: the job's "
                          "submission_benchmark, else 'benchmark')")
    training.add_argument("--system", help="the system's folder name (default: the session's system)")
    training.add_argument("--conversion-eff", type=float, default=1.0, metavar="F",
                          help="PSU AC/DC conversion efficiency to log (1.0: none)")
    training.add_argument("--measurement-type", choices=["AC", "DC"], default="AC",
                          help="where the meters measure: the wall (AC) or after the PSU (DC)")
    training.add_argument("--tree", type=Path,
                          help=f"where to write the tree (default: <session>/{TREE_DIR})")
    training.add_argument("--label", help="the session's label (default: training-<command>)")
    training.add_argument("--out", type=Path, help="output directory for the session")
    training.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    training.add_argument("--quiet", action="store_true", help="no progress lines")
    training.add_argument("workload", nargs=argparse.REMAINDER, help="-- CMD ...")

    qualify = commands.add_parser(
        "qualify", help="a meter beside a SPEC-accepted one, by MLPerf Training's 5 %% rule",
        description="Each SESSION is one load condition (idle, two workloads) measured with the reference "
                    "meter and the candidate beside it (role = \"beside\").")
    qualify.add_argument("sessions", nargs="+", type=Path, metavar="SESSION",
                         help="one session per load condition, the candidate beside the reference")
    qualify.add_argument("--candidate", help="the candidate's driver name (default: the first beside meter)")
    qualify.add_argument("--window-s", type=float, default=RULE_WINDOW_S, help="window length (rule: 60 s)")
    qualify.add_argument("--windows", type=positive_int, default=RULE_WINDOWS, help="windows (rule: 5)")
    qualify.add_argument("--tolerance-pct", type=float, default=RULE_TOLERANCE_PCT, help="x %% (rule: 5)")
    qualify.add_argument("--json", action="store_true", help="print the result as one JSON object")

from __future__ import annotations

import ipaddress

import pytest

from componentbase.errors import FlagError, HelpRequested
from componentbase.flags import FlagSet, format_duration, parse_duration


def scheduler_flags() -> FlagSet:
    flags = FlagSet("kplane-scheduler")
    flags.string("config", "", "The path to the configuration file.")
    flags.int("secure-port", 10259, "The port on which to serve HTTPS.")
    flags.float("kube-api-qps", 50.0, "QPS to use while talking with the apiserver.")
    flags.bool("leader-elect", True, "Start a leader election client.")
    flags.bool("profiling", False, "Enable profiling via web interface.")
    flags.duration("leader-elect-lease-duration", 15, "How long a lease lasts.")
    flags.strings("enable-admission-plugins", ["NamespaceLifecycle"], "Admission plugins to enable.")
    flags.string_map("feature-gates", {}, "Alpha or experimental features.")
    flags.ip("bind-address", "0.0.0.0", "The IP address to listen on.")
    flags.cidr("service-cluster-ip-range", None, "The service IP range.")
    flags.choice("log-format", "text", ["text", "json"], "The log format.")
    flags.int("v", 0, "Log verbosity.", shorthand="v")
    return flags


@pytest.mark.parametrize(
    ("argv", "name", "expected"),
    [
        (["--config=/etc/kubernetes/scheduler.yaml"], "config", "/etc/kubernetes/scheduler.yaml"),
        (["--config", "/etc/kubernetes/scheduler.yaml"], "config", "/etc/kubernetes/scheduler.yaml"),
        (["--config="], "config", ""),
        (["--secure-port=0x10"], "secure-port", 16),
        (["--secure-port", "6443"], "secure-port", 6443),
        (["--kube-api-qps=12.5"], "kube-api-qps", 12.5),
        (["--profiling"], "profiling", True),
        (["--leader-elect=false"], "leader-elect", False),
        (["--leader-elect=F"], "leader-elect", False),
        (["--profiling=true"], "profiling", True),
        (["--leader-elect-lease-duration=1m30s"], "leader-elect-lease-duration", 90.0),
        (["--leader-elect-lease-duration", "500ms"], "leader-elect-lease-duration", 0.5),
        (["--enable-admission-plugins=A,B"], "enable-admission-plugins", ["A", "B"]),
        (
            ["--enable-admission-plugins=A", "--enable-admission-plugins=B,C"],
            "enable-admission-plugins",
            ["A", "B", "C"],
        ),
        (["--enable-admission-plugins="], "enable-admission-plugins", []),
        (["--feature-gates=A=true,B=false"], "feature-gates", {"A": "true", "B": "false"}),
        (
            ["--feature-gates=A=true", "--feature-gates", "B=false,A=false"],
            "feature-gates",
            {"A": "false", "B": "false"},
        ),
        (["--bind-address=::1"], "bind-address", "::1"),
        (
            ["--service-cluster-ip-range=10.96.0.1/12"],
            "service-cluster-ip-range",
            ipaddress.ip_network("10.96.0.0/12"),
        ),
        (["--log-format=json"], "log-format", "json"),
        (["-v=4"], "v", 4),
        (["-v4"], "v", 4),
        (["-v", "4"], "v", 4),
        (["--v=4"], "v", 4),
        (["--secure_port=1"], "secure-port", 1),
    ],
)
def test_values_are_parsed_with_their_type(argv: list[str], name: str, expected: object) -> None:
    flags = scheduler_flags().parse(argv)
    assert flags[name] == expected
    assert flags.changed(name)


def test_unset_flags_keep_their_default_and_are_not_changed() -> None:
    flags = scheduler_flags().parse([])
    assert flags.secure_port == 10259
    assert flags.leader_elect is True
    assert flags.enable_admission_plugins == ["NamespaceLifecycle"]
    assert flags.service_cluster_ip_range is None
    assert not flags.changed("secure-port")


def test_a_flag_given_with_its_default_value_is_changed() -> None:
    assert scheduler_flags().parse(["--secure-port=10259"]).changed("secure_port")


def test_the_first_occurrence_of_a_list_replaces_the_default() -> None:
    flags = scheduler_flags().parse(["--enable-admission-plugins=NodeRestriction"])
    assert flags.enable_admission_plugins == ["NodeRestriction"]


def test_a_later_scalar_occurrence_wins() -> None:
    assert scheduler_flags().parse(["--secure-port=1", "--secure-port=2"]).secure_port == 2


def test_definitions_return_typed_handles() -> None:
    flagset = FlagSet("prog")
    port = flagset.int("port", 80, "port")
    names = flagset.strings("name", [], "names")
    flags = flagset.parse(["--port=8080", "--name=a"])
    assert flags[port] == 8080
    assert flags[names] == ["a"]
    assert flags.changed(port)


def test_defaults_are_not_shared_between_parses() -> None:
    flagset = FlagSet("prog")
    names = flagset.strings("name", ["a"], "names")
    flagset.parse([])[names].append("b")
    assert flagset.parse([])[names] == ["a"]


def test_underscores_in_definitions_mean_dashes() -> None:
    flagset = FlagSet("prog")
    flagset.string("data_dir", "", "where")
    assert flagset.parse(["--data-dir=/var/lib/etcd"]).data_dir == "/var/lib/etcd"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--foo"], "unknown flag: --foo"),
        (["--foo=bar"], "unknown flag: --foo"),
        (["-x"], "unknown shorthand flag: 'x' in -x"),
        (["--secure-port=abc"], 'invalid argument "abc" for "--secure-port" flag: not an integer'),
        (["--kube-api-qps=fast"], 'invalid argument "fast" for "--kube-api-qps" flag: not a number'),
        (
            ["--leader-elect=maybe"],
            'invalid argument "maybe" for "--leader-elect" flag: not a boolean (true or false)',
        ),
        (
            ["--leader-elect-lease-duration=15"],
            'invalid argument "15" for "--leader-elect-lease-duration" flag: invalid duration \'15\'',
        ),
        (
            ["--feature-gates=A"],
            'invalid argument "A" for "--feature-gates" flag: \'A\' must be formatted as key=value',
        ),
        (
            ["--bind-address=localhost"],
            'invalid argument "localhost" for "--bind-address" flag: not an IP address',
        ),
        (
            ["--service-cluster-ip-range=x"],
            'invalid argument "x" for "--service-cluster-ip-range" flag: not a CIDR (like 10.0.0.0/24)',
        ),
        (["--log-format=xml"], 'invalid argument "xml" for "--log-format" flag: must be one of text, json'),
        (["-v=high"], 'invalid argument "high" for "-v, --v" flag: not an integer'),
        (["--config"], "flag needs an argument: --config"),
        (["--leader-elect", "false"], "unexpected argument: false"),
        (["scheduler.yaml"], "unexpected argument: scheduler.yaml"),
        (["--", "--secure-port=1"], "unexpected argument: --secure-port=1"),
    ],
)
def test_a_bad_command_line_is_a_flag_error_naming_the_flag(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError) as raised:
        scheduler_flags().parse(argv)
    assert str(raised.value) == message
    assert raised.value.exit_code == 2


def test_positional_arguments_when_allowed() -> None:
    flagset = FlagSet("kplane", positional_args=True)
    flagset.bool("verbose", False, "more output")
    flags = flagset.parse(["up", "--verbose", "--", "--not-a-flag"])
    assert flags.args == ["up", "--not-a-flag"]
    assert flags.verbose is True


@pytest.mark.parametrize("argv", [["--help"], ["-h"], ["--secure-port=1", "--help"]])
def test_help_is_requested_with_the_usage(argv: list[str]) -> None:
    with pytest.raises(HelpRequested):
        scheduler_flags().parse(argv)


def test_usage_lists_flags_sorted_with_types_and_non_zero_defaults() -> None:
    usage = scheduler_flags().usage().splitlines()
    assert usage[0] == "Usage of kplane-scheduler:"
    names = [line.split("--")[1].split()[0] for line in usage[1:]]
    assert names == sorted(names)
    lines = {line.split("--")[1].split()[0]: line for line in usage[1:]}
    assert lines["secure-port"].split() == [
        "--secure-port",
        "int",
        "The",
        "port",
        "on",
        "which",
        "to",
        "serve",
        "HTTPS.",
        "(default",
        "10259)",
    ]
    assert lines["kube-api-qps"].endswith("(default 50)")
    assert lines["leader-elect"].endswith("Start a leader election client. (default true)")
    assert lines["leader-elect-lease-duration"].endswith("(default 15s)")
    assert lines["log-format"].endswith('(default "text")')
    assert lines["enable-admission-plugins"].endswith("(default [NamespaceLifecycle])")
    assert lines["config"].endswith("The path to the configuration file.")  # "" is not shown
    assert lines["v"].startswith("  -v, --v int")


def test_parse_or_exit_prints_usage_and_exits_0_on_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        scheduler_flags().parse_or_exit(["--help"])
    assert exited.value.code == 0
    assert "--secure-port int" in capsys.readouterr().out


def test_parse_or_exit_prints_one_line_and_exits_2_on_unknown_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        scheduler_flags().parse_or_exit(["--foo"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "kplane-scheduler: error: unknown flag: --foo\n"


def test_defining_a_flag_twice_is_a_programming_error() -> None:
    flagset = FlagSet("prog")
    flagset.string("config", "", "one")
    with pytest.raises(ValueError, match="defined twice"):
        flagset.string("config", "", "two")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("10s", 10.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("-2m3.5s", -123.5),
        ("+5s", 5.0),
        ("2h45m", 9900.0),
        ("250us", 0.00025),
        ("1µs", 0.000001),
        ("10ns", 0.00000001),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "1x", "1m 30s", "--1s", "1.2.3s", "ms"])
def test_malformed_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (10, "10s"),
        (90, "1m30s"),
        (0.5, "500ms"),
        (3600, "1h0m0s"),
        (5400.5, "1h30m0.5s"),
        (-1.5, "-1.5s"),
        (0.00025, "250µs"),
    ],
)
def test_durations_print_like_go(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_environment_supplies_flags_the_command_line_does_not_set() -> None:
    flags = FlagSet("kplane-etcd", env_prefix="ETCD_")
    data_dir = flags.string("data-dir", "default.etcd", "data dir")
    name = flags.string("name", "default", "member name")
    parsed = flags.parse(["--name=m1"], env={"ETCD_DATA_DIR": "/var/lib/etcd", "ETCD_NAME": "ignored"})
    assert parsed[data_dir] == "/var/lib/etcd"
    assert parsed[name] == "m1"
    assert not parsed.changed(data_dir)


def test_a_bad_environment_value_names_the_variable() -> None:
    flags = FlagSet("kplane-etcd", env_prefix="ETCD_")
    flags.int("snapshot-count", 100000, "entries between snapshots")
    with pytest.raises(FlagError, match="ETCD_SNAPSHOT_COUNT"):
        flags.parse([], env={"ETCD_SNAPSHOT_COUNT": "many"})

"""`kplane pki ...` wired into a kplane-like parser, and `python -m pki` on its own."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from componentbase.cli import CommandError, OneLineArgumentParser
from pki.__main__ import main
from pki.cli import register


def kplane_parser() -> argparse.ArgumentParser:
    """What the lead's `kplane` tool does with `register`."""
    parser = OneLineArgumentParser(prog="kplane")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineArgumentParser)
    register(subparsers)
    return parser


def run_kplane(*argv: str) -> int:
    args = kplane_parser().parse_args(argv)
    exit_code: int = args.func(args)
    return exit_code


def test_init_then_check_through_the_kplane_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki_dir, kubeconfig_dir = tmp_path / "pki", tmp_path / "kube"
    dirs = ["--dir", str(pki_dir), "--kubeconfig-dir", str(kubeconfig_dir)]
    nodes = ["--node", "n1", "--node", "n2"]
    sans = ["--apiserver-san", "10.0.0.1,lb.example.com"]
    assert run_kplane("pki", "init", *dirs, *nodes, *sans, "--server", "https://lb:6443") == 0
    assert capsys.readouterr().out.splitlines()[-1] == "40 files written, 0 kept"
    assert "server: https://lb:6443" in (kubeconfig_dir / "admin.conf").read_text()

    # Same SANs given as repeated flags; the server goes back to the default, so only kubeconfigs change.
    sans = ["--apiserver-san", "10.0.0.1", "--apiserver-san", "lb.example.com"]
    assert run_kplane("pki", "init", *dirs, *nodes, *sans) == 0
    kubeconfigs = ["admin", "scheduler", "controller-manager", "kube-proxy", "kubelet-n1", "kubelet-n2"]
    assert capsys.readouterr().out.splitlines() == [
        *(f"created {kubeconfig_dir / name}.conf" for name in kubeconfigs),
        "6 files written, 34 kept",
    ]

    assert run_kplane("pki", "check", *dirs) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "all 22 certificates valid"


def test_check_failure_is_exit_1_with_the_problem_last(pki_copy, capsys: pytest.CaptureFixture[str]) -> None:
    (pki_copy.directory / "front-proxy-client.key").unlink()
    with pytest.raises(SystemExit) as exited:
        main(["check", "--dir", str(pki_copy.directory), "--kubeconfig-dir", str(pki_copy.kubeconfig_dir)])
    assert exited.value.code == 1
    output = capsys.readouterr()
    assert "front-proxy-client " in output.out
    assert output.err == f"kplane pki: error: {pki_copy.directory / 'front-proxy-client.key'} is missing\n"


def test_check_with_several_problems_lists_them_and_counts_the_rest(pki_copy, capsys) -> None:
    (pki_copy.kubeconfig_dir / "admin.conf").unlink()
    (pki_copy.kubeconfig_dir / "scheduler.conf").unlink()
    with pytest.raises(SystemExit):
        main(["check", "--dir", str(pki_copy.directory), "--kubeconfig-dir", str(pki_copy.kubeconfig_dir)])
    output = capsys.readouterr()
    assert output.out.splitlines()[-2:] == [
        f"problem: {pki_copy.kubeconfig_dir / 'admin.conf'} is missing",
        f"problem: {pki_copy.kubeconfig_dir / 'scheduler.conf'} is missing",
    ]
    assert output.err.endswith("admin.conf is missing (and 1 more problem listed above)\n")


def test_renew_by_name_and_unknown_name(pki_copy, capsys: pytest.CaptureFixture[str]) -> None:
    dirs = ["--dir", str(pki_copy.directory), "--kubeconfig-dir", str(pki_copy.kubeconfig_dir)]
    assert main(["renew", *dirs, "kubelet-node1"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"renewed {pki_copy.directory / 'kubelet-node1.crt'}",
        f"renewed {pki_copy.kubeconfig_dir / 'kubelet-node1.conf'}",
    ]
    with pytest.raises(SystemExit) as exited:
        main(["renew", *dirs, "etcd"])
    assert exited.value.code == 1
    error = capsys.readouterr().err
    assert error.startswith("kplane pki: error: unknown certificate 'etcd'; valid names: all, apiserver, ")
    assert error.count("\n") == 1


def test_bad_input_is_a_command_error_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="invalid node name 'Bad_Node'"):
        run_kplane("pki", "init", "--dir", str(tmp_path), "--node", "Bad_Node")


def test_file_system_errors_are_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "not-a-dir").write_text("")
    with pytest.raises(CommandError, match=r"not-a-dir/pki/\S+: Not a directory$"):
        run_kplane("pki", "init", "--dir", str(tmp_path / "not-a-dir/pki"))


def test_unknown_flag_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--dir", "x", "--bogus"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == "kplane pki: error: unknown flag: --bogus\n"


def test_python_m_pki_runs_standalone(pki) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pki",
            "check",
            "--dir",
            str(pki.directory),
            "--kubeconfig-dir",
            str(pki.kubeconfig_dir),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "all 22 certificates valid"

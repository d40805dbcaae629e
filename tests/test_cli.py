"""The darknet-softmax command line."""
import subprocess
import sys

from darknet_softmax import cli


def test_parity_report(capsys):
    assert cli.main(["parity"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[1:len(cli.PARITY_CASES) + 1]]
    assert len(rows) == len(cli.PARITY_CASES)
    for row in rows:
        assert float(row[4]) <= 1e-6
    assert lines[-1].startswith("parity: OK")


def test_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "darknet_softmax", "parity", "--seed", "3"],
                            capture_output=True, text=True, check=True)
    assert "parity: OK" in result.stdout


def test_unknown_command_is_an_error():
    result = subprocess.run([sys.executable, "-m", "darknet_softmax", "nonsense"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr

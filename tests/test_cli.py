import subprocess
import sys

from jpcorpus.cli import main
from tests.conftest import REPO


def test_missing_input_exits_2_naming_the_pattern(tmp_path, capsys):
    code = main(["build", "--input", str(tmp_path / "nope-*.warc.gz"), "--output", str(tmp_path / "out")])
    assert code == 2
    assert "nope-*.warc.gz" in capsys.readouterr().err


def test_unknown_format_exits_2(tmp_path, capsys):
    (tmp_path / "x.bin").write_bytes(b"\x00\x01\x02 not a corpus")
    code = main(["build", "--input", str(tmp_path / "x.bin"), "--output", str(tmp_path / "out")])
    assert code == 2
    assert "unknown input format" in capsys.readouterr().err


def test_bad_config_exits_2(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[langid]\nkeep = ['ja']\n")
    code = main(
        [
            "build",
            "--input",
            str(REPO / "tests/data/text/mixed.jsonl"),
            "--output",
            str(tmp_path / "o"),
            "--config",
            str(cfg),
        ]
    )
    assert code == 2
    assert "unknown key(s) ['keep']" in capsys.readouterr().err


def test_console_script_help_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "jpcorpus.cli", "--help"], capture_output=True, text=True, check=True)
    assert "build" in out.stdout

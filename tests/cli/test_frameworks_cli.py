"""`casefile frameworks load` and `list`, against a real database of their own."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from casefile.cli import main
from casefile.settings import PROJECT_ROOT

VSTGB = PROJECT_ROOT / "docs" / "examples" / "vstgb.yaml"


@pytest.fixture
def run(tmp_path, fresh_database_url):
    env = {
        "CASEFILE_INSTANCE": str(tmp_path / "instance"),
        "CASEFILE_DATABASE_URL": fresh_database_url,
        "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    assert invoke("init").exit_code == 0
    return invoke


def test_load_list_and_refuse(run, tmp_path):
    listed = run("frameworks", "list")
    assert listed.exit_code == 0
    assert "rome-statute\t1\tpackage\t" in listed.output
    assert "genocide-convention\t1\tpackage\t10\t" in listed.output

    loaded = run("frameworks", "load", str(VSTGB))
    assert loaded.exit_code == 0, loaded.output
    assert loaded.output.startswith("loaded de-vstgb version 1: ")
    assert "de-vstgb\t1\tloaded\t" in run("frameworks", "list").output

    again = run("frameworks", "load", str(VSTGB))
    assert again.exit_code == 1
    assert "already has version 1" in again.output

    bad = tmp_path / "bad.yaml"
    text = VSTGB.read_text().replace("version: 1", "version: 2")
    text = text.replace('  - {id: "§ 9(1)"', '  - {idd: "§ 9(1)"')
    bad.write_text(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if 'idd: "§ 9(1)"' in row)
    refused = run("frameworks", "load", str(bad))
    assert refused.exit_code == 1
    [message] = refused.output.strip().splitlines()
    assert message.startswith(f"casefile: {bad}: line {line}: ")
    assert "unknown field 'idd'" in message
    assert "de-vstgb\t2" not in run("frameworks", "list").output

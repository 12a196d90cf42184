"""An instance as the command line makes it: its environment, and `casefile init` run."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from casefile.cli import main


def cli_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    """The variables that point the CLI at an instance folder, a database and a local store
    under tmp_path (and at no configuration file)."""
    return {
        "CASEFILE_INSTANCE": str(tmp_path / "instance"),
        "CASEFILE_DATABASE_URL": database_url,
        "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri(),
        "CASEFILE_CONFIG": "",
    }


def initialised(tmp_path: Path, database_url: str) -> tuple[dict[str, str], CliRunner]:
    """`casefile init` run for such an instance; its environment and the runner."""
    env = cli_env(tmp_path, database_url)
    runner = CliRunner()
    result = runner.invoke(main, ["init"], env=env)
    assert result.exit_code == 0, result.output
    return env, runner

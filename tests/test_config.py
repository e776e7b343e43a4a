from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from marketintel.cli.main import app
from marketintel.config import ConfigError, load_settings, mask


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for variable in ("DATA_DIR", "TIMESERIES_URL", "METADATA_URL", "BUS_URL", "OBJECTS_URL", "CONFIG"):
        monkeypatch.delenv(f"MARKETINTEL_{variable}", raising=False)
    monkeypatch.chdir(tmp_path)


def test_engine_urls_derive_from_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MARKETINTEL_DATA_DIR", str(tmp_path / "d"))
    settings = load_settings()
    assert settings.timeseries_url == f"duckdb:///{tmp_path / 'd' / 'timeseries.duckdb'}"
    assert settings.metadata_url == f"sqlite:///{tmp_path / 'd' / 'metadata.sqlite'}"
    assert settings.objects_url == f"file:///{tmp_path / 'd' / 'objects'}"
    assert settings.bus_url == "memory://"


def test_default_data_dir_is_dot_marketintel_in_the_working_directory(tmp_path: Path) -> None:
    assert load_settings().data_dir == tmp_path / ".marketintel"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "TIMESERIES_URL",
            "postgres://x/y",
            "MARKETINTEL_TIMESERIES_URL='postgres://x/y': scheme must be one of",
        ),
        ("METADATA_URL", "mysql://root@h/db", "MARKETINTEL_METADATA_URL"),
        ("BUS_URL", "nats://", "MARKETINTEL_BUS_URL='nats://': a nats:// URL needs a host"),
        ("OBJECTS_URL", "s3://", "MARKETINTEL_OBJECTS_URL='s3://': an s3:// URL needs a bucket"),
        ("TIMESERIES_URL", "clickhouse://h:port/db", "the port is not a number"),
        ("TIMESERIES_URL", "duckdb://", "needs a path"),
    ],
)
def test_a_bad_url_fails_at_start_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"MARKETINTEL_{variable}", value)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings()


def test_toml_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "marketintel.toml"
    config.write_text('bus_url = "nats://127.0.0.1:4222"\ndata_dir = "/srv/mi"\n')
    monkeypatch.setenv("MARKETINTEL_CONFIG", str(config))
    monkeypatch.setenv("MARKETINTEL_DATA_DIR", str(tmp_path / "env-wins"))
    settings = load_settings()
    assert settings.bus_url == "nats://127.0.0.1:4222"
    assert settings.data_dir == tmp_path / "env-wins"


def test_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETINTEL_CONFIG", "/nonexistent/mi.toml")
    with pytest.raises(
        ConfigError, match=re.escape("MARKETINTEL_CONFIG='/nonexistent/mi.toml': no such file")
    ):
        load_settings()


def test_passwords_are_masked() -> None:
    assert mask("postgresql+psycopg://app:s3cret@db:5432/mi") == "postgresql+psycopg://app:***@db:5432/mi"
    assert mask("nats://127.0.0.1:4222") == "nats://127.0.0.1:4222"


def test_config_show_masks_secrets_and_bad_config_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    monkeypatch.setenv("MARKETINTEL_METADATA_URL", "postgresql+psycopg://app:s3cret@127.0.0.1:5432/test")
    shown = runner.invoke(app, ["config", "show"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "app:***@127.0.0.1" in shown.output
    assert "s3cret" not in shown.output
    monkeypatch.setenv("MARKETINTEL_BUS_URL", "kafka://broker")
    failed = runner.invoke(app, ["config", "show"])
    assert failed.exit_code == 2
    assert "MARKETINTEL_BUS_URL" in failed.output


def test_url_paths_read_like_sqlalchemy_urls() -> None:
    from marketintel.config import url_path

    assert url_path("duckdb:////srv/mi/ts.duckdb") == Path("/srv/mi/ts.duckdb")
    assert url_path("duckdb:///data/ts.duckdb") == Path("data/ts.duckdb")
    assert url_path("chdb:////srv/mi/chdb") == Path("/srv/mi/chdb")

"""Settings are frozen, typed, validated at start, and refuse unsafe production setups."""

from __future__ import annotations

import dataclasses
import os

import pytest

from casefile import create_app
from casefile.settings import DEVELOPMENT_SECRET_KEY, SettingsError, load_settings
from casefile.vault.envelope import Keyring
from tests.factories import make_settings

STRONG = "x" * 48


def test_defaults_are_embedded(tmp_path):
    settings = load_settings({"CASEFILE_INSTANCE": str(tmp_path / "inst")})
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path / 'inst' / 'casefile.sqlite3'}"
    assert settings.storage_url.startswith("file://")
    assert settings.session_idle_minutes == 30
    assert settings.password_min_length == 12


def test_environment_overrides_config_file(tmp_path):
    config = tmp_path / "casefile.toml"
    config.write_text('database_url = "sqlite:///from-file"\n[web]\nsession_idle_minutes = 5\n')
    settings = load_settings(
        {
            "CASEFILE_CONFIG": str(config),
            "CASEFILE_DATABASE_URL": "postgresql+psycopg://db/casefile",
            "CASEFILE_STORAGE_URL": "s3://bucket/prefix",
            "CASEFILE_INSTANCE": str(tmp_path / "i"),
        }
    )
    assert settings.database_url == "postgresql+psycopg://db/casefile"
    assert settings.storage_url == "s3://bucket/prefix"
    assert settings.session_idle_minutes == 5
    assert settings.instance_path == tmp_path / "i"


def test_settings_are_frozen(tmp_path):
    settings = make_settings(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.env = "production"  # type: ignore[misc]


def test_bad_config_file_is_a_clear_error(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("this is = = not toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings({"CASEFILE_CONFIG": str(config)})
    with pytest.raises(SettingsError, match="not found"):
        load_settings({"CASEFILE_CONFIG": str(tmp_path / "missing.toml")})
    config.write_text('[web]\nsession_idle_minutes = "thirty"\n')
    with pytest.raises(SettingsError, match="session_idle_minutes"):
        load_settings({"CASEFILE_CONFIG": str(config)})


def test_secret_key_is_read_from_the_instance(tmp_path):
    instance = tmp_path / "inst"
    instance.mkdir(mode=0o700)
    (instance / "secret_key").write_text("k" * 64 + "\n")
    settings = load_settings({"CASEFILE_INSTANCE": str(instance)})
    assert settings.secret_key == "k" * 64


def test_no_secret_refuses_to_start(tmp_path):
    settings = dataclasses.replace(make_settings(tmp_path), secret_key=None)
    with pytest.raises(SettingsError, match="casefile init"):
        create_app(settings)


@pytest.mark.parametrize(
    ("secret", "match"),
    [(None, "secret key"), (DEVELOPMENT_SECRET_KEY, "development secret"), ("short", "32")],
)
def test_production_refuses_weak_or_missing_secret(tmp_path, secret, match):
    settings = dataclasses.replace(make_settings(tmp_path), env="production", secret_key=secret)
    with pytest.raises(SettingsError, match=match):
        settings.validate()


def test_production_refuses_an_instance_folder_others_can_read(tmp_path):
    kek = tmp_path / "kek-from-the-secret-store.json"
    Keyring.create_file(kek)
    settings = dataclasses.replace(
        make_settings(tmp_path), env="production", secret_key=STRONG, kek_file=kek
    )
    settings.validate()  # 0700: fine
    os.chmod(settings.instance_path, 0o750)  # noqa: PTH101
    with pytest.raises(SettingsError, match="accessible to other users"):
        settings.validate()


def test_unknown_environment_and_weak_policy_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="env must be"):
        dataclasses.replace(make_settings(tmp_path), env="staging").validate()  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="password_min_length"):
        dataclasses.replace(make_settings(tmp_path), password_min_length=8).validate()
    with pytest.raises(SettingsError, match="storage_url"):
        dataclasses.replace(make_settings(tmp_path), storage_url="ftp://x").validate()


def test_production_needs_the_kek_supplied_at_start(tmp_path):
    settings = dataclasses.replace(make_settings(tmp_path), env="production", secret_key=STRONG)
    with pytest.raises(SettingsError, match="CASEFILE_KEK"):
        settings.validate()  # the instance's own kek.json is not enough in production
    kek = tmp_path / "kek.json"
    Keyring.create_file(kek)
    dataclasses.replace(settings, kek_file=kek).validate()
    text = kek.read_text()
    dataclasses.replace(settings, kek_text=text).validate()


def test_throttle_settings_come_from_the_file_and_the_environment(tmp_path):
    defaults = load_settings({"CASEFILE_INSTANCE": str(tmp_path / "i")})
    assert defaults.throttle_storage_url == "memory://"
    assert defaults.throttle_account_limits == "5/minute;20/hour;100/day"
    config = tmp_path / "casefile.toml"
    config.write_text(
        '[auth]\nthrottle_storage_url = "redis://cache:6379"\n'
        'throttle_client_limits = "30/minute;300/day"\n'
    )
    from_file = load_settings({"CASEFILE_CONFIG": str(config), "CASEFILE_INSTANCE": str(tmp_path)})
    assert from_file.throttle_storage_url == "redis://cache:6379"
    assert from_file.throttle_client_limits == "30/minute;300/day"
    from_env = load_settings(
        {
            "CASEFILE_CONFIG": str(config),
            "CASEFILE_INSTANCE": str(tmp_path),
            "CASEFILE_THROTTLE_STORAGE_URL": "redis://127.0.0.1:6379",
        }
    )
    assert from_env.throttle_storage_url == "redis://127.0.0.1:6379"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"throttle_account_limits": "lots"}, "throttle_account_limits"),
        ({"throttle_client_limits": "5/minute;1/month"}, "throttle_client_limits"),
        ({"throttle_storage_url": "mongodb://db"}, "throttle_storage_url"),
    ],
)
def test_unusable_throttle_settings_are_refused(tmp_path, overrides, match):
    with pytest.raises(SettingsError, match=match):
        make_settings(tmp_path, **overrides).validate()

"""Settings are frozen, typed, validated at start, refuse what they do not know, and refuse
unsafe production setups."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from casefile import create_app
from casefile.cli import main
from casefile.config_file import SECTIONS, ConfigFile
from casefile.settings import (
    DEVELOPMENT_SECRET_KEY,
    PROJECT_ROOT,
    Settings,
    SettingsError,
    load_settings,
)
from casefile.vault import signing_key
from casefile.vault.envelope import Keyring
from tests.factories import make_settings

STRONG = "x" * 48
EXAMPLE = PROJECT_ROOT / "config" / "example.toml"
PRODUCTION_EXAMPLE = PROJECT_ROOT / "config" / "production.example.toml"


def _refusal(tmp_path, toml: str = "", **environ: str) -> str:
    """The one-line reason load_settings gives for a configuration file and environment."""
    config = tmp_path / "casefile.toml"
    config.write_text(toml)
    env = {"CASEFILE_CONFIG": str(config), "CASEFILE_INSTANCE": str(tmp_path / "i"), **environ}
    with pytest.raises(SettingsError) as refused:
        load_settings(env)
    message = str(refused.value)
    assert "\n" not in message
    return message


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
        make_settings(tmp_path), env="production", secret_key=STRONG, kek_file=kek, https=True
    )
    settings.validate()  # 0700: fine
    os.chmod(settings.instance_path, 0o750)  # noqa: PTH101
    with pytest.raises(SettingsError, match="accessible to other users"):
        settings.validate()


def test_production_refuses_plain_http(tmp_path):
    kek = tmp_path / "kek-from-the-secret-store.json"
    Keyring.create_file(kek)
    settings = make_settings(tmp_path, env="production", secret_key=STRONG, kek_file=kek)
    with pytest.raises(SettingsError, match=r"web\.https = true"):
        settings.validate()
    dataclasses.replace(settings, https=True).validate()
    dataclasses.replace(settings, env="development").validate()  # a laptop may use http


def test_unknown_environment_and_weak_policy_are_refused(tmp_path):
    with pytest.raises(SettingsError, match="env must be"):
        dataclasses.replace(make_settings(tmp_path), env="staging").validate()  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="password_min_length"):
        dataclasses.replace(make_settings(tmp_path), password_min_length=8).validate()
    with pytest.raises(SettingsError, match="storage_url"):
        dataclasses.replace(make_settings(tmp_path), storage_url="ftp://x").validate()


def test_production_needs_the_kek_supplied_at_start(tmp_path):
    settings = dataclasses.replace(
        make_settings(tmp_path), env="production", secret_key=STRONG, https=True
    )
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


# --- what the settings do not know stops the start ------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[web]\nhttps_only = true\n", "unknown setting web.https_only (did you mean web.https?)"),
        (
            '[auth]\nthrottle_acount_limits = "1/minute"\n',
            (
                "unknown setting auth.throttle_acount_limits "
                "(did you mean auth.throttle_account_limits?)"
            ),
        ),
        ('storage_uri = "s3://b/p"\n', "unknown setting storage_uri (did you mean storage_url?)"),
        (
            "[vault]\nevidence_max_mib = 10\n",
            "unknown setting vault.evidence_max_mib (did you mean vault.evidence_max_mb?)",
        ),
        # in the wrong section, or in none
        (
            '[custody]\ns3_region = "eu-central-1"\n',
            "unknown setting custody.s3_region (did you mean storage.s3_region?)",
        ),
        ("https = true\n", "unknown setting https (did you mean web.https?)"),
        ("[web]\nHTTPS = true\n", "unknown setting web.HTTPS (did you mean web.https?)"),
    ],
)
def test_a_misspelt_or_misplaced_key_stops_the_start_naming_the_nearest(tmp_path, toml, expected):
    assert _refusal(tmp_path, toml) == expected


def test_an_unknown_key_with_no_near_name_lists_its_section(tmp_path):
    # Account lockout gave way to throttling: an old file's key must not pass in silence.
    assert _refusal(tmp_path, "[auth]\nlockout_minutes = 60\n") == (
        "unknown setting auth.lockout_minutes (known in [auth]: password_min_length, "
        "throttle_account_limits, throttle_client_limits, throttle_storage_url, api_token_days)"
    )


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[webb]\nhttps = true\n", "unknown section [webb] (did you mean [web]?)"),
        ("[i18]\nlanguages = []\n", "unknown section [i18] (did you mean [i18n]?)"),
        ("[Auth]\npassword_min_length = 14\n", "unknown section [Auth] (did you mean [auth]?)"),
    ],
)
def test_a_misspelt_section_stops_the_start_naming_the_nearest(tmp_path, toml, expected):
    assert _refusal(tmp_path, toml) == expected


def test_every_problem_is_named_on_one_line(tmp_path):
    toml = "[web]\nhttps_only = true\nproxy_hop = 1\n[custody]\norign = 'x'\n"
    message = _refusal(tmp_path, toml)
    assert message == (
        "unknown setting web.https_only (did you mean web.https?); "
        "unknown setting web.proxy_hop (did you mean web.proxy_hops?); "
        "unknown setting custody.orign (did you mean custody.origin?)"
    )


def test_an_odd_key_is_quoted_so_the_message_stays_one_line(tmp_path):
    message = _refusal(tmp_path, '"https\\nonly" = true\n')
    assert message.startswith('unknown setting "https\\nonly" (known at the top: env, instance')


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        (
            "CASEFILE_THROTTLE_STORAGE_URI",
            (
                "unknown environment variable CASEFILE_THROTTLE_STORAGE_URI "
                "(did you mean CASEFILE_THROTTLE_STORAGE_URL?)"
            ),
        ),
        (
            "CASEFILE_DATABASE",
            "unknown environment variable CASEFILE_DATABASE (did you mean CASEFILE_DATABASE_URL?)",
        ),
        (
            "CASEFILE_KEKFILE",
            "unknown environment variable CASEFILE_KEKFILE (did you mean CASEFILE_KEK_FILE?)",
        ),
        (
            "CASEFILE_HTTPS",
            (
                "unknown environment variable CASEFILE_HTTPS (known: CASEFILE_CONFIG, "
                "CASEFILE_DATABASE_URL, CASEFILE_ENV, CASEFILE_INSTANCE, CASEFILE_KEK, "
                "CASEFILE_KEK_FILE, CASEFILE_S3_ENDPOINT_URL, CASEFILE_SECRET_KEY, "
                "CASEFILE_STORAGE_URL, CASEFILE_THROTTLE_STORAGE_URL)"
            ),
        ),
    ],
)
def test_a_misspelt_environment_variable_stops_the_start(tmp_path, variable, expected):
    assert _refusal(tmp_path, **{variable: "redis://cache:6379"}) == expected
    assert _refusal(tmp_path, **{variable: ""}) == expected  # set, even if empty


def test_the_test_suite_and_tools_keep_their_own_variables(tmp_path):
    settings = load_settings(
        {
            "CASEFILE_INSTANCE": str(tmp_path),
            "CASEFILE_TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1:5432/test",
            "CASEFILE_TEST_REDIS_URL": "redis://127.0.0.1:6379",
            "CASEFILE_TEST_ANYTHING_NEW": "1",
            "CASEFILE_REQUIRE_BROWSER": "1",
            "CASEFILE_REQUIRE_REDIS": "1",
            "CASEFILE_SCHEMATHESIS_EXAMPLES": "500",
            "CASEFILE": "not a CASEFILE_ name",
        }
    )
    assert settings == load_settings({"CASEFILE_INSTANCE": str(tmp_path)})


def test_every_documented_variable_sets_its_setting(tmp_path):
    kek = tmp_path / "kek.json"
    settings = load_settings(
        {
            "CASEFILE_ENV": "production",
            "CASEFILE_INSTANCE": str(tmp_path / "i"),
            "CASEFILE_DATABASE_URL": "postgresql+psycopg://db/casefile",
            "CASEFILE_STORAGE_URL": "s3://bucket/prefix",
            "CASEFILE_SECRET_KEY": STRONG,
            "CASEFILE_KEK": "{}",
            "CASEFILE_KEK_FILE": str(kek),
            "CASEFILE_S3_ENDPOINT_URL": "http://minio:9000",
            "CASEFILE_THROTTLE_STORAGE_URL": "redis://cache:6379",
        }
    )
    assert (settings.env, settings.instance_path) == ("production", tmp_path / "i")
    assert settings.database_url == "postgresql+psycopg://db/casefile"
    assert (settings.storage_url, settings.s3_endpoint_url) == (
        "s3://bucket/prefix",
        "http://minio:9000",
    )
    assert (settings.secret_key, settings.kek_text, settings.kek_file) == (STRONG, "{}", kek)
    assert settings.throttle_storage_url == "redis://cache:6379"


def test_a_variable_overrides_the_file_inside_a_section_and_empty_means_unset(tmp_path):
    config = tmp_path / "casefile.toml"
    config.write_text('[vault]\nkek_file = "/from/file.json"\nevidence_max_mb = 10\n')
    env = {"CASEFILE_CONFIG": str(config), "CASEFILE_INSTANCE": str(tmp_path)}
    from_file = load_settings(env)
    assert (from_file.kek_file, from_file.evidence_max_mb) == (Path("/from/file.json"), 10)
    overridden = load_settings({**env, "CASEFILE_KEK_FILE": "/from/env.json"})
    assert (overridden.kek_file, overridden.evidence_max_mb) == (Path("/from/env.json"), 10)
    assert load_settings({**env, "CASEFILE_KEK_FILE": ""}).kek_file == from_file.kek_file


# --- a value of the wrong type stops the start ----------------------------------------------


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[web]\nhttps = "yes"\n', "setting web.https must be true or false, not text"),
        ("[web]\nsession_idle_minutes = 30.5\n",
         "setting web.session_idle_minutes must be a whole number, not a decimal number"),
        ("[web]\nproxy_hops = true\n",
         "setting web.proxy_hops must be a whole number, not true/false"),
        ('[auth]\npassword_min_length = "14"\n',
         "setting auth.password_min_length must be a whole number, not text"),
        ('[i18n]\nlanguages = "en"\n', "setting i18n.languages must be a list, not text"),
        ('[i18n]\nlanguages = ["en", 1]\n',
         "setting i18n.languages[1] must be text (in quotes), not a whole number"),
        ("web = 5\n", "setting web must be a table of settings, not a whole number"),
        ("env = 1979-05-27\n", "setting env must be 'development' or 'production', not date"),
        ('env = "staging"\n',
         "setting env must be 'development' or 'production', not \"staging\""),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_named_with_what_it_must_be(tmp_path, toml, expected):
    assert _refusal(tmp_path, toml) == expected


def test_a_wrong_value_from_the_environment_names_the_variable(tmp_path):
    assert _refusal(tmp_path, CASEFILE_ENV="staging") == (
        "CASEFILE_ENV (setting env) must be 'development' or 'production', not \"staging\""
    )


def test_a_refused_value_is_never_echoed(tmp_path):
    message = _refusal(tmp_path, "secret_key = 31415926535897932384626\n")
    assert message == "setting secret_key must be text (in quotes), not a whole number"


# --- every default is written once ----------------------------------------------------------


def test_the_settings_dataclass_starts_from_the_models_defaults():
    # load_settings reads the models; Settings() writes no default of its own.
    loaded = load_settings({})
    assert dataclasses.replace(loaded, secret_key=None) == Settings()
    assert Settings().session_idle_minutes == ConfigFile().web.session_idle_minutes


def _documented(text: str) -> set[str]:
    """Every key config/example.toml shows, set or commented out, as section.key."""
    keys, section = set(), None
    for line in text.splitlines():
        if table := re.fullmatch(r"\[(\w+)\]", line):
            section = table.group(1)
        elif key := re.match(r"#? ?(\w+) = ", line):
            keys.add(f"{section}.{key.group(1)}" if section else key.group(1))
    return keys


def test_the_example_file_shows_every_setting_at_its_default():
    text = EXAMPLE.read_text()
    every = {name for name in ConfigFile.model_fields if name not in SECTIONS}
    every |= {f"{name}.{key}" for name, model in SECTIONS.items() for key in model.model_fields}
    assert _documented(text) == every
    assert ConfigFile(**tomllib.loads(text)) == ConfigFile()  # the values set are the defaults


def test_the_example_files_load(tmp_path):
    example = load_settings({"CASEFILE_CONFIG": str(EXAMPLE), "CASEFILE_INSTANCE": str(tmp_path)})
    assert example == load_settings({"CASEFILE_INSTANCE": str(tmp_path)})
    production = load_settings(
        {"CASEFILE_CONFIG": str(PRODUCTION_EXAMPLE), "CASEFILE_INSTANCE": str(tmp_path)}
    )
    assert (production.env, production.https, production.password_min_length) == (
        "production",
        True,
        14,
    )


# --- how a refusal reaches the operator -----------------------------------------------------


def test_the_cli_refuses_in_one_line_and_creates_nothing(tmp_path):
    config = tmp_path / "casefile.toml"
    config.write_text("[web]\nhttps_only = true\n")
    env = {"CASEFILE_CONFIG": str(config), "CASEFILE_INSTANCE": str(tmp_path / "instance"),
           "CASEFILE_STORAGE_URL": (tmp_path / "storage").as_uri()}  # fmt: skip
    result = CliRunner().invoke(main, ["init"], env=env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "casefile: unknown setting web.https_only (did you mean web.https?)"
    ]
    assert not (tmp_path / "instance").exists()
    assert not (tmp_path / "storage").exists()
    misspelt = CliRunner().invoke(main, ["init"], env={**env, "CASEFILE_CONFIG": "",
                                                       "CASEFILE_INSTANCES": "x"})  # fmt: skip
    assert misspelt.exit_code == 1
    assert misspelt.stderr == (
        "casefile: unknown environment variable CASEFILE_INSTANCES "
        "(did you mean CASEFILE_INSTANCE?)\n"
    )


def test_the_app_factory_refuses_with_the_same_reason(tmp_path, monkeypatch):
    config = tmp_path / "casefile.toml"
    config.write_text("[auth]\npassword_min_lenght = 8\n")
    monkeypatch.setenv("CASEFILE_CONFIG", str(config))
    monkeypatch.setenv("CASEFILE_INSTANCE", str(tmp_path))
    with pytest.raises(SettingsError, match=re.escape(
        "unknown setting auth.password_min_lenght (did you mean auth.password_min_length?)"
    )):  # fmt: skip
        create_app()


# --- production refusals, kept ----------------------------------------------------------------


def test_production_refuses_a_missing_custody_signing_key(tmp_path):
    kek = tmp_path / "kek-from-the-secret-store.json"
    Keyring.create_file(kek)
    settings = make_settings(
        tmp_path, env="production", secret_key=STRONG, kek_file=kek, https=True
    )
    settings.validate()
    (settings.instance_path / signing_key.FILE_NAME).unlink()
    with pytest.raises(SettingsError, match="no custody signing key"):
        settings.validate()


def test_production_from_a_file_is_refused_until_its_keys_are_supplied(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o700)
    signing_key.create(instance / signing_key.FILE_NAME)
    Keyring.create_file(instance / "kek.json")  # beside the data: not enough in production
    env = {"CASEFILE_CONFIG": str(PRODUCTION_EXAMPLE), "CASEFILE_INSTANCE": str(instance),
           "CASEFILE_SECRET_KEY": STRONG}  # fmt: skip
    with pytest.raises(SettingsError, match="key-encryption key supplied at start"):
        load_settings(env).validate()
    kek = tmp_path / "secrets" / "kek.json"
    kek.parent.mkdir()
    Keyring.create_file(kek)
    load_settings({**env, "CASEFILE_KEK_FILE": str(kek)}).validate()

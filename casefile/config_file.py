"""The configuration as written: the sections a TOML file may hold, each default written once
(in the models below), and the CASEFILE_* environment variables an instance reads.

Where a value comes from, highest first: the variables of ENVIRONMENT, the TOML file named by
CASEFILE_CONFIG, the models' defaults. Reading checks the shape (pydantic-settings models with
extra="forbid", strict types): an unknown key, section or CASEFILE_* variable, or a value of
the wrong type, stops the start with a one-line SettingsError that names it and the nearest
known name; a typo must never leave an instance running on a weaker default. The values
themselves (ranges, production refusals) are checked by casefile.settings.Settings.validate.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

Environment = Literal["development", "production"]


class SettingsError(Exception):
    """The configuration is unusable or unsafe; the message (one line) says why."""


# --- the configuration file: one model per [section], every default written here -------------


class _Section(BaseModel):
    # strict: a TOML file says what it means; "30" is not 30, and true is not 1.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DatabaseSection(_Section):
    # How long a statement waits for a lock another transaction holds (SQLite's busy timeout,
    # PostgreSQL's lock_timeout); then the request is answered 503 + Retry-After ("busy").
    lock_timeout_ms: int = 30_000


class WebSection(_Section):
    https: bool = False  # served over https: Secure cookies, HSTS
    proxy_hops: int = 0  # reverse proxies in front that set X-Forwarded-*
    session_idle_minutes: int = 30
    max_request_mb: int = 16  # JSON/form bodies; evidence uploads have their own limit


class AuthSection(_Section):
    password_min_length: int = 12
    # Stacked limits on failed sign-ins, TOTP codes and bearer tokens (README, "Sign-in
    # throttling"): per account (against addresses that failed on it) and per client address.
    throttle_account_limits: str = "5/minute;20/hour;100/day"
    throttle_client_limits: str = "10/minute;50/hour;200/day"
    throttle_storage_url: str = "memory://"  # one process; redis:// when several serve
    api_token_days: int = 90


class VaultSection(_Section):
    evidence_max_mb: int = 8192  # largest evidence file accepted in one upload
    tus_threshold_mb: int = 64  # the upload page sends larger files resumably (tus)
    preview_max_megapixels: int = 50  # larger images are offered for download, not inline
    kek_file: str | None = None  # None: <instance>/kek.json (embedded mode only)


class StorageSection(_Section):
    # Used when storage_url is s3://bucket/prefix. Credentials come from the usual AWS
    # sources (environment, profile, instance role), never from this file.
    s3_endpoint_url: str | None = None  # None: AWS itself
    s3_region: str | None = None
    object_lock_days: int = 0  # > 0: S3 Object Lock, compliance mode, for this many days
    s3_part_mb: int = 8  # multipart part size: the memory one upload in progress holds


class CustodySection(_Section):
    origin: str = "casefile.local/custody"  # checkpoint origin line and signing key name
    checkpoint_every_entries: int = 100  # sign a checkpoint after this many new entries
    checkpoint_every_minutes: int = 10  # ... or when the latest is this old


class I18nSection(_Section):
    languages: list[str] = ["en", "my"]  # pydantic copies a mutable default
    default_language: str = "en"


class MapSection(_Section):
    # The case map's tile server, as a Leaflet URL template ("https://{s}.tile.example.org/
    # {z}/{x}/{y}.png"). Empty: no tiles, the map shows country borders shipped with Casefile
    # and asks no other server for anything. A tile server learns which areas are viewed.
    tile_url: str = ""
    attribution: str = ""  # shown on the map (plain text), e.g. the tiles' copyright


class QueueSection(_Section):
    # Background jobs (filing exports) go through huey: "sqlite" keeps the queue in a file
    # under the instance folder, run by a consumer thread in the server process; "redis"
    # (with redis_url) for several servers, with `casefile worker` processes running them.
    backend: Literal["sqlite", "redis"] = "sqlite"
    redis_url: str = ""
    embedded_consumer: bool = True  # the server process runs jobs itself (one thread)
    stale_minutes: int = 5  # a running export silent this long is taken as dead and re-run


class ConfigFile(BaseSettings):
    """The settings a TOML file may hold. Relative paths are resolved against the project
    folder (the one holding config/)."""

    # case_sensitive: TOML keys are; [Auth] would otherwise pass at the top and HTTPS not below.
    model_config = SettingsConfigDict(extra="forbid", frozen=True, strict=True, case_sensitive=True)

    env: Environment = "development"
    instance: str = "instance"  # keys and the SQLite file; mode 0700
    database_url: str | None = None  # None: sqlite:///<instance>/casefile.sqlite3
    storage_url: str = "storage"  # a folder, file:///path or s3://bucket/prefix
    secret_key: str | None = None  # None: the one `casefile init` wrote into the instance
    database: DatabaseSection = DatabaseSection()
    web: WebSection = WebSection()
    auth: AuthSection = AuthSection()
    vault: VaultSection = VaultSection()
    storage: StorageSection = StorageSection()
    custody: CustodySection = CustodySection()
    i18n: I18nSection = I18nSection()
    map: MapSection = MapSection()
    queue: QueueSection = QueueSection()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003 - the hook's signature
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Nothing implicit: read_config passes the environment and the file it was given.
        return (init_settings,)


SECTIONS: dict[str, type[_Section]] = {
    name: field.annotation
    for name, field in ConfigFile.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, _Section)
}


DEFAULTS = ConfigFile()  # what casefile.settings.Settings starts from: it writes no default


# --- the environment -------------------------------------------------------------------------

CONFIG_VARIABLE = "CASEFILE_CONFIG"
KEK_VARIABLE = "CASEFILE_KEK"  # the keyset itself: never a file setting

# Every CASEFILE_* variable a running instance reads, and the setting each one overrides.
ENVIRONMENT: dict[str, tuple[str, ...]] = {
    "CASEFILE_ENV": ("env",),
    "CASEFILE_INSTANCE": ("instance",),
    "CASEFILE_DATABASE_URL": ("database_url",),
    "CASEFILE_STORAGE_URL": ("storage_url",),
    "CASEFILE_SECRET_KEY": ("secret_key",),
    "CASEFILE_KEK_FILE": ("vault", "kek_file"),
    "CASEFILE_S3_ENDPOINT_URL": ("storage", "s3_endpoint_url"),
    "CASEFILE_THROTTLE_STORAGE_URL": ("auth", "throttle_storage_url"),
}
INSTANCE_VARIABLES = frozenset({CONFIG_VARIABLE, KEK_VARIABLE, *ENVIRONMENT})

# The test suite's and the tools' own variables, never read by an instance: anything under
# CASEFILE_TEST_ (new ones go there), and three switches named before that rule existed.
TOOL_PREFIX = "CASEFILE_TEST_"
TOOL_VARIABLES = frozenset(
    {"CASEFILE_REQUIRE_BROWSER", "CASEFILE_REQUIRE_REDIS", "CASEFILE_SCHEMATHESIS_EXAMPLES"}
)


class _EnvironmentSource(PydanticBaseSettingsSource):
    """The variables of ENVIRONMENT, each placed at its setting; an empty one counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(
        self,
        field: FieldInfo,  # noqa: ARG002 - the base class's signature
        field_name: str,
    ) -> tuple[Any, str, bool]:
        return None, field_name, False  # not called: __call__ places whole names, nested or not

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for variable, path in ENVIRONMENT.items():
            value = self.environ.get(variable)
            if value:
                *sections, key = path
                table = values
                for section in sections:
                    table = table.setdefault(section, {})
                table[key] = value
        return values


def _refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    unknown = sorted(
        name
        for name in environ
        if name.startswith("CASEFILE_")
        and name not in INSTANCE_VARIABLES
        and name not in TOOL_VARIABLES
        and not name.startswith(TOOL_PREFIX)
    )
    if unknown:
        raise SettingsError("; ".join(_unknown_variable(name) for name in unknown))


# --- explaining what was refused, in one line ------------------------------------------------

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")


def _shown(name: object) -> str:
    """A key as a reader can type it: plain, or quoted with its odd characters escaped."""
    text = str(name)
    return text if _PLAIN_NAME.fullmatch(text) else json.dumps(text)


def _every_setting() -> list[str]:
    names = [name for name in ConfigFile.model_fields if name not in SECTIONS]
    for section, model in SECTIONS.items():
        names += [f"{section}.{key}" for key in model.model_fields]
    return names


def _nearest(name: str, candidates: list[str], cutoff: float = 0.6) -> str | None:
    folded = {candidate.casefold(): candidate for candidate in candidates}  # HTTPS: https
    found = difflib.get_close_matches(name.casefold(), list(folded), n=1, cutoff=cutoff)
    return folded[found[0]] if found else None


def _unknown_variable(name: str) -> str:
    known = sorted(INSTANCE_VARIABLES)
    bare = {variable.removeprefix("CASEFILE_"): variable for variable in known}
    nearest = _nearest(name.removeprefix("CASEFILE_"), list(bare))
    hint = f"did you mean {bare[nearest]}?" if nearest else f"known: {', '.join(known)}"
    return f"unknown environment variable {_shown(name)} ({hint})"


def _unknown(location: tuple[str | int, ...], value: object) -> str:
    *sections, key = [str(part) for part in location]
    top = [name for name in ConfigFile.model_fields if name not in SECTIONS]
    tables = [f"[{section}]" for section in SECTIONS]
    if not sections and isinstance(value, dict):
        nearest = _nearest(f"[{key}]", tables)
        hint = f"did you mean {nearest}?" if nearest else f"known: {', '.join(tables)}"
        return f"unknown section [{_shown(key)}] ({hint})"
    name = ".".join(_shown(part) for part in [*sections, key])
    model = SECTIONS.get(sections[0]) if len(sections) == 1 else None
    nearest = None
    if model is not None:
        nearest = _nearest(key, list(model.model_fields))
        nearest = f"{sections[0]}.{nearest}" if nearest else None
        known = f"known in [{sections[0]}]: {', '.join(model.model_fields)}"
    else:
        known = f"known at the top: {', '.join(top)} and the sections {', '.join(tables)}"
    if nearest is None:  # a key put in the wrong place: only a near-exact match is a hint
        elsewhere = {setting.rpartition(".")[2]: setting for setting in _every_setting()}
        if not sections:
            elsewhere |= {section: f"[{section}]" for section in SECTIONS}
        found = _nearest(key, list(elsewhere), cutoff=0.85)
        nearest = elsewhere[found] if found else None
    return f"unknown setting {name} ({f'did you mean {nearest}?' if nearest else known})"


_RULES = {
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "string_type": "must be text (in quotes)",
    "list_type": "must be a list",
    "model_type": "must be a table of settings",
}


def _kind(value: object) -> str:
    kinds = {bool: "true/false", int: "a whole number", float: "a decimal number",
             str: "text", list: "a list", dict: "a table"}  # fmt: skip
    return kinds.get(type(value), type(value).__name__)


def _explain(error: ValidationError, from_environment: Mapping[tuple[str, ...], str]) -> str:
    reasons = []
    for detail in error.errors(include_url=False):
        location = tuple(detail["loc"])
        if detail["type"] == "extra_forbidden":
            reasons.append(_unknown(location, detail["input"]))
            continue
        name = ".".join(
            f"[{part}]" if isinstance(part, int) else _shown(part) for part in location
        ).replace(".[", "[")
        variable = from_environment.get(tuple(str(part) for part in location))
        where = f"{variable} (setting {name})" if variable else f"setting {name}"
        value = detail["input"]
        if detail["type"] == "literal_error":  # one word the reader typed (env), if a word
            shown = json.dumps(value) if isinstance(value, str) else _kind(value)
            rule = f"must be {detail['ctx']['expected']}, not {shown}"
        else:  # never the value itself: it may be a secret or a password-bearing URL
            rule = _RULES.get(detail["type"], detail["msg"][0].lower() + detail["msg"][1:])
            rule += f", not {_kind(value)}"
        reasons.append(f"{where} {rule}")
    return "; ".join(reasons)


# --- reading --------------------------------------------------------------------------------


def expand_path(path: str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError as error:  # "~someone" with no such user, or no home at all
        raise SettingsError(f"cannot resolve the path {path!r}: {error}") from None


def _toml_source(path: Path) -> TomlConfigSettingsSource:
    # The library's TOML source passes over a missing file in silence; a named one must exist.
    if not path.is_file():
        raise SettingsError(f"configuration file {path} not found")
    try:
        return TomlConfigSettingsSource(ConfigFile, toml_file=path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"configuration file {path} is not valid TOML: {error}") from error
    except OSError as error:
        raise SettingsError(f"configuration file {path} cannot be read: {error}") from error


def read_config(environ: Mapping[str, str]) -> ConfigFile:
    """The configuration the environment and the file it names say, or a SettingsError."""
    _refuse_unknown_variables(environ)
    sources: list[PydanticBaseSettingsSource] = [_EnvironmentSource(ConfigFile, environ)]
    if environ.get(CONFIG_VARIABLE):
        sources.append(_toml_source(expand_path(environ[CONFIG_VARIABLE])))
    from_environment = {path: name for name, path in ENVIRONMENT.items() if environ.get(name)}
    try:
        return ConfigFile(_build_sources=(tuple(sources), {}))
    except ValidationError as error:
        raise SettingsError(_explain(error, from_environment)) from None

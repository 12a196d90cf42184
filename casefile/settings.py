"""Frozen, typed settings, each default written once: in the section models below.

Where a value comes from, highest first: the CASEFILE_* environment variables of ENVIRONMENT,
the TOML file named by CASEFILE_CONFIG, the models' defaults. Loading checks the shape (pydantic
models with extra="forbid", strict types): an unknown key, section or CASEFILE_* variable, or a
value of the wrong type, stops the start with a one-line SettingsError that names it and the
nearest known name; a typo must never leave an instance running on a weaker default.
Settings.validate() then checks the values (ranges, production refusals) at start, for settings
loaded from a file and for settings built in code alike.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from casefile.bundle.signed_note import is_valid_key_name
from casefile.logic.throttle import parse_limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name

# Known to everyone who reads this file; production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "casefile-development-secret-never-use-in-production"  # noqa: S105

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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003 - the hook's signature
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Nothing implicit: load_settings passes the environment and the file it was given.
        return (init_settings,)


SECTIONS: dict[str, type[_Section]] = {
    name: field.annotation
    for name, field in ConfigFile.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, _Section)
}


DEFAULTS = ConfigFile()  # what the Settings dataclass below starts from: it writes no default


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


# --- what the code reads: one flat, frozen view -------------------------------------------------


def _expand(path: str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError as error:  # "~someone" with no such user, or no home at all
        raise SettingsError(f"cannot resolve the path {path!r}: {error}") from None


def _resolve(path: str) -> Path:
    candidate = _expand(path)
    return candidate if candidate.is_absolute() else PROJECT_ROOT / candidate


def _storage_url(value: str) -> str:
    if value.startswith(("file://", "s3://")):
        return value
    return _resolve(value).as_uri()


DEFAULT_INSTANCE = _resolve(DEFAULTS.instance)
DEFAULT_STORAGE_URL = _storage_url(DEFAULTS.storage_url)
DEFAULT_LANGUAGES = tuple(DEFAULTS.i18n.languages)


@dataclass(frozen=True)
class Settings:
    """Defaults come from the models above; fields that no file sets say so."""

    env: Environment = DEFAULTS.env
    instance_path: Path = DEFAULT_INSTANCE
    database_url_override: str | None = DEFAULTS.database_url
    lock_timeout_ms: int = DEFAULTS.database.lock_timeout_ms
    storage_url: str = DEFAULT_STORAGE_URL
    s3_endpoint_url: str | None = DEFAULTS.storage.s3_endpoint_url
    s3_region: str | None = DEFAULTS.storage.s3_region
    object_lock_days: int = DEFAULTS.storage.object_lock_days
    s3_part_mb: int = DEFAULTS.storage.s3_part_mb
    secret_key: str | None = DEFAULTS.secret_key
    https: bool = DEFAULTS.web.https
    proxy_hops: int = DEFAULTS.web.proxy_hops
    session_idle_minutes: int = DEFAULTS.web.session_idle_minutes
    max_request_mb: int = DEFAULTS.web.max_request_mb
    password_min_length: int = DEFAULTS.auth.password_min_length
    throttle_storage_url: str = DEFAULTS.auth.throttle_storage_url
    throttle_account_limits: str = DEFAULTS.auth.throttle_account_limits
    throttle_client_limits: str = DEFAULTS.auth.throttle_client_limits
    api_token_days: int = DEFAULTS.auth.api_token_days
    languages: tuple[str, ...] = DEFAULT_LANGUAGES
    default_language: str = DEFAULTS.i18n.default_language
    kek_text: str | None = None  # CASEFILE_KEK only: the key-encryption keyset, given at start
    kek_file: Path | None = None  # [vault] kek_file or CASEFILE_KEK_FILE; None: <instance>/kek.json
    evidence_max_mb: int = DEFAULTS.vault.evidence_max_mb
    tus_threshold_mb: int = DEFAULTS.vault.tus_threshold_mb
    preview_max_megapixels: int = DEFAULTS.vault.preview_max_megapixels
    custody_origin: str = DEFAULTS.custody.origin
    checkpoint_every_entries: int = DEFAULTS.custody.checkpoint_every_entries
    checkpoint_every_minutes: int = DEFAULTS.custody.checkpoint_every_minutes
    testing: bool = False  # set by the test suite only

    @property
    def database_url(self) -> str:
        if self.database_url_override:
            return self.database_url_override
        return f"sqlite:///{self.instance_path / 'casefile.sqlite3'}"

    @property
    def secret_key_path(self) -> Path:
        return self.instance_path / SECRET_KEY_FILE

    @property
    def kek_path(self) -> Path:
        return self.kek_file or self.instance_path / "kek.json"

    @property
    def signing_key_path(self) -> Path:
        return self.instance_path / "custody_signing_key.pem"  # vault.signing_key.FILE_NAME

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def with_secret_from_instance(self) -> Settings:
        """Read the Flask secret key that `casefile init` wrote, unless one is configured."""
        if self.secret_key is not None or not self.secret_key_path.exists():
            return self
        return replace(self, secret_key=self.secret_key_path.read_text().strip())

    def validate(self) -> None:
        """Refuse settings that would run insecurely or not at all."""
        if self.env not in ("development", "production"):
            raise SettingsError(f"env must be 'development' or 'production', not {self.env!r}")
        if self.password_min_length < 12:
            raise SettingsError("auth.password_min_length may not be below 12")
        if self.session_idle_minutes < 1:
            raise SettingsError("web.session_idle_minutes must be at least 1")
        self._validate_throttle()
        if self.default_language not in self.languages:
            raise SettingsError("i18n.default_language must be one of i18n.languages")
        if not is_valid_key_name(self.custody_origin):
            raise SettingsError("custody.origin must be non-empty, without spaces or '+'")
        if self.checkpoint_every_entries < 1 or self.checkpoint_every_minutes < 1:
            raise SettingsError("custody checkpoint intervals must be at least 1")
        if not self.storage_url.startswith(("file://", "s3://")):
            raise SettingsError("storage_url must be file:///path or s3://bucket/prefix")
        self._validate_storage()
        if self.secret_key is None:
            raise SettingsError(
                f"no secret key in {self.secret_key_path}: run `casefile init` first"
            )
        if self.is_production:
            self._validate_production()

    def _validate_throttle(self) -> None:
        for name in ("throttle_account_limits", "throttle_client_limits"):
            try:
                parse_limits(getattr(self, name))
            except ValueError as error:
                raise SettingsError(
                    f"auth.{name} must be limits like '5/minute;20/hour;100/day': {error}"
                ) from None
        schemes = ("memory://", "redis://", "rediss://", "redis+")  # redis+sentinel, +cluster
        if not self.throttle_storage_url.startswith(schemes):
            raise SettingsError("auth.throttle_storage_url must be memory:// or redis://host:port")

    def _validate_storage(self) -> None:
        if self.preview_max_megapixels < 1:
            raise SettingsError("vault.preview_max_megapixels must be at least 1")
        if not 1 <= self.lock_timeout_ms <= 600_000:
            raise SettingsError("database.lock_timeout_ms must be between 1 and 600000")
        if self.object_lock_days < 0:
            raise SettingsError("storage.object_lock_days must be 0 (off) or more")
        if not 5 <= self.s3_part_mb <= 5120:
            raise SettingsError("storage.s3_part_mb must be between 5 and 5120")
        if not self.storage_url.startswith("s3://"):
            return
        if not urlsplit(self.storage_url).netloc:
            raise SettingsError("storage_url s3:// needs a bucket: s3://bucket/prefix")
        if self.s3_part_mb * 10_000 < self.evidence_max_mb * 1.01 + 1:  # S3: 10,000 parts
            raise SettingsError("storage.s3_part_mb is too small for vault.evidence_max_mb")

    def _validate_production(self) -> None:
        if self.secret_key == DEVELOPMENT_SECRET_KEY:
            raise SettingsError("production refuses the development secret key")
        if self.secret_key is None or len(self.secret_key) < 32:
            raise SettingsError("production needs a secret key of at least 32 characters")
        if self.kek_text is None and (self.kek_file is None or not self.kek_file.exists()):
            # Never beside the data: supplied at start, from a secret store or a mounted file.
            raise SettingsError(
                "production needs the key-encryption key supplied at start: "
                "set CASEFILE_KEK or CASEFILE_KEK_FILE"
            )
        if not self.signing_key_path.exists():
            raise SettingsError(
                f"no custody signing key at {self.signing_key_path}: run `casefile init`"
            )
        if not self.instance_path.is_dir():
            raise SettingsError(f"instance folder {self.instance_path} does not exist")
        mode = stat.S_IMODE(self.instance_path.stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SettingsError(
                f"instance folder {self.instance_path} is accessible to other users "
                f"(mode {mode:o}); chmod 700 it"
            )


def _read_config(path: Path) -> TomlConfigSettingsSource:
    # The library's TOML source passes over a missing file in silence; a named one must exist.
    if not path.is_file():
        raise SettingsError(f"configuration file {path} not found")
    try:
        return TomlConfigSettingsSource(ConfigFile, toml_file=path)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"configuration file {path} is not valid TOML: {error}") from error
    except OSError as error:
        raise SettingsError(f"configuration file {path} cannot be read: {error}") from error


def _flatten(loaded: ConfigFile, kek_text: str | None) -> Settings:
    web, auth, vault, storage = loaded.web, loaded.auth, loaded.vault, loaded.storage
    custody = loaded.custody
    return Settings(
        env=loaded.env,
        instance_path=_resolve(loaded.instance),
        database_url_override=loaded.database_url or None,
        lock_timeout_ms=loaded.database.lock_timeout_ms,
        storage_url=_storage_url(loaded.storage_url),
        s3_endpoint_url=storage.s3_endpoint_url or None,
        s3_region=storage.s3_region or None,
        object_lock_days=storage.object_lock_days,
        s3_part_mb=storage.s3_part_mb,
        secret_key=loaded.secret_key,
        https=web.https,
        proxy_hops=web.proxy_hops,
        session_idle_minutes=web.session_idle_minutes,
        max_request_mb=web.max_request_mb,
        password_min_length=auth.password_min_length,
        throttle_storage_url=auth.throttle_storage_url,
        throttle_account_limits=auth.throttle_account_limits,
        throttle_client_limits=auth.throttle_client_limits,
        api_token_days=auth.api_token_days,
        languages=tuple(loaded.i18n.languages),
        default_language=loaded.i18n.default_language,
        kek_text=kek_text,
        kek_file=_resolve(vault.kek_file) if vault.kek_file else None,
        evidence_max_mb=vault.evidence_max_mb,
        tus_threshold_mb=vault.tus_threshold_mb,
        preview_max_megapixels=vault.preview_max_megapixels,
        custody_origin=custody.origin,
        checkpoint_every_entries=custody.checkpoint_every_entries,
        checkpoint_every_minutes=custody.checkpoint_every_minutes,
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings the way a running instance does; validation happens in create_app."""
    env = dict(os.environ if environ is None else environ)
    _refuse_unknown_variables(env)
    sources: list[PydanticBaseSettingsSource] = [_EnvironmentSource(ConfigFile, env)]
    if env.get(CONFIG_VARIABLE):
        sources.append(_read_config(_expand(env[CONFIG_VARIABLE])))
    from_environment = {path: name for name, path in ENVIRONMENT.items() if env.get(name)}
    try:
        loaded = ConfigFile(_build_sources=(tuple(sources), {}))
    except ValidationError as error:
        raise SettingsError(_explain(error, from_environment)) from None
    return _flatten(loaded, env.get(KEK_VARIABLE) or None).with_secret_from_instance()

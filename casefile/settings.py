"""Frozen, typed settings: config/default.toml, then CASEFILE_CONFIG, then CASEFILE_* env."""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from casefile.bundle.signed_note import is_valid_key_name
from casefile.logic.accounts.throttle import parse_limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "default.toml"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name

# Known to everyone who reads this file; production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "casefile-development-secret-never-use-in-production"  # noqa: S105

Environment = Literal["development", "production"]


class SettingsError(Exception):
    """The configuration is unusable or unsafe; the message says why."""


@dataclass(frozen=True)
class Settings:
    env: Environment = "development"
    instance_path: Path = PROJECT_ROOT / "instance"
    database_url_override: str | None = None
    lock_timeout_ms: int = 30_000  # a wait for a lock longer than this: a 503 to the client
    storage_url: str = (PROJECT_ROOT / "storage").as_uri()
    s3_endpoint_url: str | None = None  # CASEFILE_S3_ENDPOINT_URL; None: AWS itself
    s3_region: str | None = None
    object_lock_days: int = 0  # > 0: S3 Object Lock, compliance mode, for this many days
    s3_part_mb: int = 8  # multipart part size: the memory one upload in progress holds
    secret_key: str | None = None
    https: bool = False
    proxy_hops: int = 0
    session_idle_minutes: int = 30
    max_request_mb: int = 16
    password_min_length: int = 12
    throttle_storage_url: str = "memory://"  # CASEFILE_THROTTLE_STORAGE_URL; redis:// at scale
    throttle_account_limits: str = "5/minute;20/hour;100/day"
    throttle_client_limits: str = "10/minute;50/hour;200/day"
    api_token_days: int = 90
    languages: tuple[str, ...] = ("en", "my")
    default_language: str = "en"
    kek_text: str | None = None  # CASEFILE_KEK: the key-encryption keyset, supplied at start
    kek_file: Path | None = None  # CASEFILE_KEK_FILE or [vault] kek_file
    evidence_max_mb: int = 8192
    tus_threshold_mb: int = 64  # the upload page sends larger files resumably (tus)
    preview_max_megapixels: int = 50  # larger images are offered for download, not inline
    custody_origin: str = "casefile.local/custody"
    checkpoint_every_entries: int = 100
    checkpoint_every_minutes: int = 10
    testing: bool = False

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
            raise SettingsError(
                "auth.throttle_storage_url must be memory:// or redis://host:port"
            )

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


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as error:
        raise SettingsError(f"configuration file {path} not found") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError(f"configuration file {path} is not valid TOML: {error}") from error
    except OSError as error:
        raise SettingsError(f"configuration file {path} cannot be read: {error}") from error


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise SettingsError(f"[{name}] must be a table of settings")
    return value


def _optional_text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"setting {key!r} must be of type str")
    return value


def _typed(raw: dict[str, Any], key: str, kind: type, default: Any) -> Any:
    value = raw.get(key, default)
    if kind is int and isinstance(value, bool):
        raise SettingsError(f"setting {key!r} must be a whole number")
    if not isinstance(value, kind):
        raise SettingsError(f"setting {key!r} must be of type {kind.__name__}")
    if isinstance(value, list) and not all(isinstance(item, str) for item in value):
        raise SettingsError(f"setting {key!r} must be a list of strings")
    return value


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings the way a running instance does; validation happens in create_app."""
    env = dict(os.environ if environ is None else environ)
    raw = _read_toml(DEFAULT_CONFIG)
    if env.get("CASEFILE_CONFIG"):
        raw = _merge(raw, _read_toml(_expand(env["CASEFILE_CONFIG"])))
    web, auth, i18n = _section(raw, "web"), _section(raw, "auth"), _section(raw, "i18n")
    custody = _section(raw, "custody")
    vault = _section(raw, "vault")
    store = _section(raw, "storage")
    database = _section(raw, "database")
    kek_file = env.get("CASEFILE_KEK_FILE") or _optional_text(vault, "kek_file")
    instance = _resolve(env.get("CASEFILE_INSTANCE") or _typed(raw, "instance", str, "instance"))
    database_url = env.get("CASEFILE_DATABASE_URL") or _optional_text(raw, "database_url")
    storage = env.get("CASEFILE_STORAGE_URL") or _typed(raw, "storage_url", str, "storage")
    settings = Settings(
        env=cast(Environment, env.get("CASEFILE_ENV") or _typed(raw, "env", str, "development")),
        instance_path=instance,
        database_url_override=database_url,
        lock_timeout_ms=_typed(database, "lock_timeout_ms", int, 30_000),
        storage_url=_storage_url(storage),
        s3_endpoint_url=env.get("CASEFILE_S3_ENDPOINT_URL")
        or _typed(store, "s3_endpoint_url", str, "")
        or None,
        s3_region=_typed(store, "s3_region", str, "") or None,
        object_lock_days=_typed(store, "object_lock_days", int, 0),
        s3_part_mb=_typed(store, "s3_part_mb", int, 8),
        secret_key=env.get("CASEFILE_SECRET_KEY") or _optional_text(raw, "secret_key"),
        https=_typed(web, "https", bool, default=False),
        proxy_hops=_typed(web, "proxy_hops", int, 0),
        session_idle_minutes=_typed(web, "session_idle_minutes", int, 30),
        max_request_mb=_typed(web, "max_request_mb", int, 16),
        password_min_length=_typed(auth, "password_min_length", int, 12),
        throttle_storage_url=env.get("CASEFILE_THROTTLE_STORAGE_URL")
        or _typed(auth, "throttle_storage_url", str, "memory://"),
        throttle_account_limits=_typed(
            auth, "throttle_account_limits", str, "5/minute;20/hour;100/day"
        ),
        throttle_client_limits=_typed(
            auth, "throttle_client_limits", str, "10/minute;50/hour;200/day"
        ),
        api_token_days=_typed(auth, "api_token_days", int, 90),
        languages=tuple(_typed(i18n, "languages", list, ["en", "my"])),
        default_language=_typed(i18n, "default_language", str, "en"),
        kek_text=env.get("CASEFILE_KEK") or None,
        kek_file=_resolve(kek_file) if kek_file else None,
        evidence_max_mb=_typed(vault, "evidence_max_mb", int, 8192),
        tus_threshold_mb=_typed(vault, "tus_threshold_mb", int, 64),
        preview_max_megapixels=_typed(vault, "preview_max_megapixels", int, 50),
        custody_origin=_typed(custody, "origin", str, "casefile.local/custody"),
        checkpoint_every_entries=_typed(custody, "checkpoint_every_entries", int, 100),
        checkpoint_every_minutes=_typed(custody, "checkpoint_every_minutes", int, 10),
    )
    return settings.with_secret_from_instance()

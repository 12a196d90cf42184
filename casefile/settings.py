"""Frozen, typed settings: what the code reads, built from casefile.config_file (where each
default is written, once, and where unknown keys and variables are refused), and checked at
start by Settings.validate (ranges, and the refusals of an unsafe production setup), for
settings loaded from a file and for settings built in code alike.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from casefile.config_file import (
    DEFAULTS,
    KEK_VARIABLE,
    ConfigFile,
    Environment,
    SettingsError,
    expand_path,
    read_config,
)
from casefile.logic.accounts.throttle import parse_limits
from casefile.verifier.signed_note import is_valid_key_name

__all__ = ["DEVELOPMENT_SECRET_KEY", "PROJECT_ROOT", "Settings", "SettingsError", "load_settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name

# Known to everyone who reads this file; production refuses to start with it.
DEVELOPMENT_SECRET_KEY = "casefile-development-secret-never-use-in-production"  # noqa: S105


def _resolve(path: str) -> Path:
    candidate = expand_path(path)
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
    """What the code reads. Its defaults are those of casefile.config_file (DEFAULTS), written
    there only; kek_text and testing are set by no file."""

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
    map_tile_url: str = DEFAULTS.map.tile_url
    map_attribution: str = DEFAULTS.map.attribution
    queue_backend: str = DEFAULTS.queue.backend
    queue_redis_url: str = DEFAULTS.queue.redis_url
    queue_embedded_consumer: bool = DEFAULTS.queue.embedded_consumer
    queue_stale_minutes: int = DEFAULTS.queue.stale_minutes
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
        self._validate_map()
        self._validate_queue()
        if self.secret_key is None:
            raise SettingsError(
                f"no secret key in {self.secret_key_path}: run `casefile init` first"
            )
        if self.is_production:
            self._validate_production()

    def _validate_queue(self) -> None:
        if self.queue_backend not in ("sqlite", "redis"):
            raise SettingsError("queue.backend must be 'sqlite' or 'redis'")
        if self.queue_backend == "redis" and not self.queue_redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise SettingsError("queue.backend 'redis' needs queue.redis_url (redis://...)")
        if self.queue_stale_minutes < 1:
            raise SettingsError("queue.stale_minutes must be at least 1")

    @property
    def queue_path(self) -> Path:
        """The embedded queue's SQLite file (queue.backend "sqlite")."""
        return self.instance_path / "queue.sqlite3"

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

    def _validate_map(self) -> None:
        if len(self.map_attribution) > 500 or any(
            ord(character) < 32 for character in self.map_attribution
        ):
            raise SettingsError("map.attribution must be one line of at most 500 characters")
        if not self.map_tile_url:
            return
        try:
            tile_source(self.map_tile_url)
        except ValueError as error:
            raise SettingsError(f"map.tile_url {error}") from None
        if self.is_production and not self.map_tile_url.startswith("https://"):
            raise SettingsError(
                "production needs map.tile_url to be https:// (over http, anyone on the "
                "network sees which areas are viewed), or empty"
            )

    @property
    def map_tile_origin(self) -> str | None:
        """The tile server as a CSP source ("https://*.tile.example.org"), None if unset."""
        return tile_source(self.map_tile_url) if self.map_tile_url else None

    def _validate_production(self) -> None:
        if self.secret_key == DEVELOPMENT_SECRET_KEY:
            raise SettingsError("production refuses the development secret key")
        if self.secret_key is None or len(self.secret_key) < 32:
            raise SettingsError("production needs a secret key of at least 32 characters")
        if not self.https:
            # Passwords, session cookies and evidence would cross the network in clear, and
            # the session cookie would lack Secure; TLS may end at the reverse proxy.
            raise SettingsError(
                "production needs web.https = true (serve it over HTTPS, e.g. behind a reverse "
                "proxy that ends TLS): without it, sign-ins and evidence cross the network in clear"
            )
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


_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_TILE_HOST = re.compile(rf"^(\{{s\}}\.)?({_LABEL}\.)*{_LABEL}$")
_TILE_PLACEHOLDERS = re.compile(r"\{[^}]*\}")


def tile_source(url: str) -> str:
    """A tile URL template checked, as the Content-Security-Policy source that admits it:
    scheme, host (a {s} subdomain as *) and port. ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must start with https:// (or http://)")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise ValueError("must be scheme://host[:port]/path[?query], without credentials or #")
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not a number") from None
    if not _TILE_HOST.match(host):
        raise ValueError("must name a host (letters, digits, '-', '.', or a {s}. subdomain)")
    placeholders = set(_TILE_PLACEHOLDERS.findall(parts.path))
    if not {"{z}", "{x}", "{y}"} <= placeholders or placeholders - {"{z}", "{x}", "{y}", "{r}"}:
        raise ValueError("must hold {z}, {x} and {y} in its path (and no other {...} but {r})")
    if any(character in parts.path for character in " ;,'\"\\"):
        raise ValueError("must not hold spaces, quotes, ';' or ','")
    shown = host.replace("{s}.", "*.")
    return f"{parts.scheme}://{shown}" + (f":{port}" if port is not None else "")


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
        map_tile_url=loaded.map.tile_url.strip(),
        map_attribution=loaded.map.attribution.strip(),
        queue_backend=loaded.queue.backend,
        queue_redis_url=loaded.queue.redis_url.strip(),
        queue_embedded_consumer=loaded.queue.embedded_consumer,
        queue_stale_minutes=loaded.queue.stale_minutes,
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings the way a running instance does; validation happens in create_app."""
    env = dict(os.environ if environ is None else environ)
    loaded = read_config(env)
    return _flatten(loaded, env.get(KEK_VARIABLE) or None).with_secret_from_instance()

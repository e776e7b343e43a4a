"""Effective configuration: `MARKETINTEL_*` environment variables, then an optional TOML file, then defaults.

Engine URLs are checked when the settings load, so a typo fails at start with the variable's name rather
than deep inside the first query. Engine URLs left unset derive from DATA_DIR.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PREFIX = "MARKETINTEL_"
CONFIG_FILE_VARIABLE = f"{PREFIX}CONFIG"

SCHEMES: dict[str, tuple[str, ...]] = {
    "timeseries_url": ("duckdb", "clickhouse", "clickhouses", "chdb"),
    "metadata_url": ("sqlite", "postgresql", "postgresql+psycopg"),
    "bus_url": ("memory", "nats"),
    "objects_url": ("file", "s3"),
    "ratelimit_url": ("memory", "redis"),
}


class ConfigError(ValueError):
    """Configuration that cannot work; the message names the variable."""


def _check_url(variable: str, url: str, schemes: tuple[str, ...]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes:
        raise ConfigError(
            f"{PREFIX}{variable.upper()}={mask(url)!r}: scheme must be one of {', '.join(s + '://' for s in schemes)}"
        )
    needs_host = parts.scheme in (
        "clickhouse",
        "clickhouses",
        "postgresql",
        "postgresql+psycopg",
        "nats",
        "redis",
    )
    if needs_host and not parts.hostname:
        raise ConfigError(f"{PREFIX}{variable.upper()}={mask(url)!r}: a {parts.scheme}:// URL needs a host")
    needs_path = parts.scheme in ("duckdb", "chdb", "sqlite", "file")
    if needs_path and parts.path in ("", "/"):
        raise ConfigError(f"{PREFIX}{variable.upper()}={mask(url)!r}: a {parts.scheme}:// URL needs a path")
    if parts.scheme == "s3" and not parts.netloc:
        raise ConfigError(f"{PREFIX}{variable.upper()}={mask(url)!r}: an s3:// URL needs a bucket")
    try:
        parts.port  # noqa: B018 - urllib checks the port only when asked
    except ValueError:
        raise ConfigError(f"{PREFIX}{variable.upper()}={mask(url)!r}: the port is not a number") from None


def mask(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urlsplit(url)
    try:
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def url_path(url: str) -> Path:
    """The filesystem path of a file-backed URL, as SQLAlchemy reads them: `duckdb:///relative/file` and
    `duckdb:////absolute/file` (three slashes, then the path)."""
    parts = urlsplit(url)
    if parts.netloc:
        return Path(parts.netloc + parts.path)
    return Path(parts.path[1:] if parts.path.startswith("/") else parts.path)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    data_dir: Path = Field(
        default=Path(".marketintel"), description="where embedded engines keep their files"
    )
    timeseries_url: str = Field(default="", description="duckdb:///path | chdb:///path | clickhouse://host")
    metadata_url: str = Field(default="", description="sqlite:///path | postgresql+psycopg://user@host/db")
    bus_url: str = Field(default="memory://", description="memory:// | nats://host:4222")
    objects_url: str = Field(default="", description="file:///path | s3://bucket/prefix")
    ratelimit_url: str = Field(default="memory://", description="memory:// | redis://host:6379/0")
    log_level: str = Field(default="INFO")
    # gateway: the embedded issuer, an optional external OIDC provider, and per-tenant request budgets
    auth_issuer: str = Field(
        default="http://127.0.0.1:8000", description="iss of tokens the platform signs itself"
    )
    auth_audience: str = Field(default="marketintel", description="aud every accepted token must carry")
    token_ttl_minutes: int = Field(default=60, gt=0, description="lifetime of tokens the platform signs")
    oidc_issuer: str = Field(
        default="", description="an external OIDC issuer URL (Keycloak realm); empty = embedded only"
    )
    oidc_tenant_claim: str = Field(default="tenant", description="the claim naming the tenant slug")
    rate_general_per_s: float = Field(default=100.0, gt=0, description="per-tenant API requests/s")
    rate_exports_per_s: float = Field(default=1.0, gt=0, description="per-tenant export requests/s")
    audit_hot_days: int = Field(
        default=365, gt=0, description="audit kept in the metadata store; older is archived"
    )
    demo_live: bool = Field(
        default=False, description="the served simulation advances in real time (`marketintel demo`)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigError(f"{CONFIG_FILE_VARIABLE}={config_file!r}: no such file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        data_dir = self.data_dir.expanduser().absolute()
        self.data_dir = data_dir
        if not self.timeseries_url:
            self.timeseries_url = f"duckdb:///{data_dir / 'timeseries.duckdb'}"
        if not self.metadata_url:
            self.metadata_url = f"sqlite:///{data_dir / 'metadata.sqlite'}"
        if not self.objects_url:
            self.objects_url = f"file:///{data_dir / 'objects'}"
        for variable, schemes in SCHEMES.items():
            _check_url(variable, getattr(self, variable), schemes)
        return self

    def masked(self) -> dict[str, str]:
        """The effective settings as strings, with secrets masked: safe to print or log."""
        shown: dict[str, Any] = self.model_dump()
        return {k: mask(str(v)) if k.endswith("_url") else str(v) for k, v in shown.items()}


def load_settings(**overrides: Any) -> Settings:
    """The settings, or a ConfigError whose message names the offending variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        context = first.get("ctx", {}).get("error")
        if isinstance(context, ConfigError):
            raise context from None
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(f"{PREFIX}{where.upper()}: {first['msg']}") from None

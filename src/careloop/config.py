"""Settings from the environment (prefix CARELOOP_); the only module that reads os.environ."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; every field is documented in the README."""

    model_config = SettingsConfigDict(env_prefix="CARELOOP_", extra="ignore")

    database_url: str = Field(default="sqlite:///var/careloop.db", description="SQLAlchemy URL")
    secret_key: SecretStr | None = Field(
        default=None, description="Key for encrypting MFA secrets; generated into var/ when unset"
    )
    session_idle_minutes: int = Field(default=15, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=12, ge=1, le=7 * 24)
    require_mfa: bool = Field(default=False, description="Administrators must enrol TOTP")
    break_glass_minutes: int = Field(default=60, ge=5, le=24 * 60)
    login_max_failures: int = Field(default=10, ge=3)
    login_window_minutes: int = Field(default=15, ge=1)
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    secure_cookies: bool = Field(default=False, description="Mark cookies Secure (set behind TLS)")
    trusted_proxies: list[str] = Field(default_factory=list, description="Proxy IPs whose X-Forwarded-For is used")
    default_timezone: str = Field(default="America/New_York")
    log_level: str = Field(default="INFO")
    inprocess_worker: bool = Field(default=True, description="Run the event/sweep worker inside `serve`")
    worker_interval_seconds: float = Field(default=2.0, gt=0, le=300)
    var_dir: Path = Field(default=Path("var"))
    export_dir: Path | None = Field(default=None, description="Where FHIR $export files are written "
                                    "(default <var_dir>/exports); kept 24 hours")
    hl7_inprocess_listener: bool = Field(default=False, description="Run the MLLP listener inside `serve`")
    hl7_host: str = Field(default="127.0.0.1", description="MLLP listen address")
    hl7_port: int = Field(default=2575, ge=0, le=65535, description="MLLP listen port (0: any free port)")
    hl7_read_timeout_seconds: float = Field(default=300, gt=0, le=86400,
                                            description="Close an MLLP connection idle or mid-frame this long")
    hl7_max_message_bytes: int = Field(default=1024 * 1024, ge=1024, description="Larger MLLP frames are refused")
    hl7_max_connections: int = Field(default=64, ge=1, le=10000)
    hl7_batch_size: int = Field(default=200, ge=1, le=5000, description="Messages per group commit")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests clear the cache to change them)."""
    return Settings()

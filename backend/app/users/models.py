"""What the users endpoints accept and return."""

from datetime import datetime
from enum import StrEnum
from zoneinfo import available_timezones

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from backend.app.core.inputs import RequestModel

_TIMEZONES = frozenset(available_timezones())


class Units(StrEnum):
    METRIC = "metric"
    IMPERIAL = "imperial"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBSOCKET = "websocket"
    DIDCOMM = "didcomm"


class Privacy(StrEnum):
    TENANT = "tenant"    # coaches and admins of the tenant see the member's activity
    PRIVATE = "private"  # only the member (and admins, for review) see it


class Preferences(RequestModel):
    model_config = ConfigDict(extra="forbid")

    units: Units = Units.METRIC
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Berlin")
    notification_channels: list[Channel] = Field(default_factory=lambda: [Channel.WEBSOCKET], max_length=4)
    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")
    reminder_times: list[str] = Field(default_factory=list, max_length=6,
                                      description="Local times HH:MM for daily workout reminders")
    privacy: Privacy = Privacy.TENANT

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in _TIMEZONES:
            raise ValueError(f"unknown time zone {value!r}")
        return value

    @field_validator("reminder_times")
    @classmethod
    def _times(cls, values: list[str]) -> list[str]:
        for value in values:
            hours, _, minutes = value.partition(":")
            if not (len(value) == 5 and hours.isdigit() and minutes.isdigit()
                    and int(hours) < 24 and int(minutes) < 60):
                raise ValueError(f"reminder time {value!r} is not HH:MM")
        if len(set(values)) != len(values):
            raise ValueError("reminder times repeat")
        return sorted(values)

    @field_validator("notification_channels")
    @classmethod
    def _unique(cls, values: list[Channel]) -> list[Channel]:
        if len(set(values)) != len(values):
            raise ValueError("notification channels repeat")
        return values


class ProfileUpdate(RequestModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, min_length=1, max_length=80)
    bio: str | None = Field(default=None, max_length=1_000)
    height_cm: float | None = Field(default=None, ge=50, le=280)
    weight_kg: float | None = Field(default=None, ge=20, le=400)
    birth_year: int | None = Field(default=None, ge=1900, le=2026)


class UserPublic(BaseModel):
    id: str
    tenant_id: str
    role: str
    display_name: str | None
    bio: str | None
    height_cm: float | None
    weight_kg: float | None
    birth_year: int | None
    preferences: Preferences
    wallets: list[str]
    created_at: datetime
    updated_at: datetime


class MemberPublic(BaseModel):
    id: str
    role: str
    display_name: str | None
    wallets: list[str]


class MembersPage(BaseModel):
    data: list[MemberPublic]
    next_cursor: str | None


class RoleUpdate(RequestModel):
    role: str = Field(pattern=r"^(user|coach|admin)$")


class WalletProof(RequestModel):
    message: str = Field(min_length=1, max_length=4_096, description="An EIP-4361 message signed by the new wallet")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")

"""Request models shared by admin routers: strict (unknown fields are a 400, never ignored) and typed."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\- ]{0,199}$"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Name = Annotated[str, Field(pattern=NAME_PATTERN, description="Letters, digits, spaces and . _ : - (up to 200).")]
Metadata = Annotated[dict[str, Any], Field(description="Free-form tags for cost attribution.")]


def changed_fields(model: BaseModel) -> set[str]:
    """The fields a PATCH body actually sets (omitted fields stay as they are)."""
    return set(model.model_fields_set)


def as_dict(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_unset=True)

"""Form fields to API models: one validation path for pages and the JSON API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from careloop.errors import InvalidInput
from careloop.web.formatting import label


def validated(model: type[BaseModel], values: dict[str, Any], *, clear_empty: bool = False) -> Any:
    """A form's fields as the API model: empty fields left out (or, to clear them, sent as None); InvalidInput
    names the first bad field."""
    if clear_empty:
        values = {k: None if v == "" else v for k, v in values.items()}
    try:
        return model(**{k: v for k, v in values.items() if v != "" and (clear_empty or v is not None)})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "form"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{label(field) or 'This form'}: {message}", field=field) from None

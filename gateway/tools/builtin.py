"""The built-in tools: calculator, current date and time, unit conversion (and knowledge-base
search, in knowledge_search.py)."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.tools import knowledge_search  # noqa: F401  (registers search_knowledge)
from gateway.tools.calculator import evaluate
from gateway.tools.registry import ToolError, ToolSpec, registry


async def calculate(expression: str) -> dict:
    return {"expression": expression, "result": evaluate(expression)}


async def current_time(timezone: str = "UTC") -> dict:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"{timezone!r} is not a time zone; use a name like Europe/Paris.") from None
    now = datetime.now(zone)
    return {
        "timezone": timezone,
        "iso": now.isoformat(timespec="seconds"),
        "weekday": now.strftime("%A"),
    }


@cache
def _units():
    import pint

    return pint.UnitRegistry()


async def convert_units(value: float, from_unit: str, to_unit: str) -> dict:
    import pint

    units = _units()
    try:
        converted = units.Quantity(value, from_unit).to(to_unit)
    except pint.errors.DimensionalityError:
        raise ToolError(f"{from_unit} cannot be converted to {to_unit}.") from None
    except (pint.errors.UndefinedUnitError, AttributeError, ValueError) as error:
        raise ToolError(f"Unknown unit: {error}.") from None
    return {
        "value": value,
        "from": from_unit,
        "to": to_unit,
        "result": round(converted.magnitude, 10),
    }


CALCULATOR = registry.register(
    ToolSpec(
        name="calculator",
        description="Evaluate an arithmetic expression exactly (+ - * / ** %, sqrt, log, sin, pi).",
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string", "maxLength": 500}},
            "required": ["expression"],
            "additionalProperties": False,
        },
        handler=calculate,
        timeout_seconds=2.0,
    )
)
CURRENT_TIME = registry.register(
    ToolSpec(
        name="current_time",
        description="The current date and time in an IANA time zone (default UTC).",
        parameters={
            "type": "object",
            "properties": {"timezone": {"type": "string", "maxLength": 64}},
            "additionalProperties": False,
        },
        handler=current_time,
        timeout_seconds=1.0,
        time_sensitive=True,
    )
)
CONVERT_UNITS = registry.register(
    ToolSpec(
        name="convert_units",
        description="Convert a quantity between units (km to mi, degC to degF, kg to lb, ...).",
        parameters={
            "type": "object",
            "properties": {
                "value": {"type": "number"},
                "from_unit": {"type": "string", "maxLength": 64},
                "to_unit": {"type": "string", "maxLength": 64},
            },
            "required": ["value", "from_unit", "to_unit"],
            "additionalProperties": False,
        },
        handler=convert_units,
        timeout_seconds=3.0,
    )
)

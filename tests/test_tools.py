"""The tool layer on its own: safe arithmetic, time zones, units, argument validation, timeouts."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.tools import (
    ToolSpec,
    builtin,  # noqa: F401  (registers the built-ins)
    registry,
)
from gateway.tools.registry import Registry


def _call(name: str, arguments) -> dict:
    result = asyncio.run(registry.call(name, arguments))
    return {"ok": result.ok, "output": result.output, "error": result.error}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("2 + 2", 4),
        ("17 * 23", 391),
        ("2 ** 10", 1024),
        ("(1 + 2) * 3 / 4", 2.25),
        ("sqrt(144) + 1", 13),
        ("10 % 4", 2),
        ("-3 ^ 2", -9),  # ^ as power, as people type it (and as in maths, -(3^2))
        ("1234567 * 7654321", 9449772114007),
    ],
)
def test_the_calculator_answers_arithmetic_exactly(expression, expected):
    assert _call("calculator", {"expression": expression})["output"]["result"] == expected


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('echo pwned')",
        "().__class__.__bases__[0].__subclasses__()",
        "open('/etc/passwd').read()",
        "[x for x in range(10)]",
        "lambda: 1",
        "'a' * 10",
    ],
)
def test_the_calculator_refuses_anything_but_arithmetic(expression):
    answer = _call("calculator", {"expression": expression})
    assert answer["ok"] is False and answer["output"] is None and answer["error"]


def test_the_calculator_refuses_numbers_that_would_exhaust_the_process():
    for expression in ("9 ** 9 ** 9", "10 ** 100000", "2 ** 1000 ** 2"):
        answer = _call("calculator", {"expression": expression})
        assert answer["ok"] is False, expression


def test_division_by_zero_is_an_answer_not_a_crash():
    assert _call("calculator", {"expression": "1 / 0"})["error"] == "Division by zero."


def test_current_time_is_in_the_asked_time_zone():
    answer = _call("current_time", {"timezone": "Asia/Tokyo"})
    assert answer["ok"] and answer["output"]["iso"].endswith("+09:00")
    assert "not a time zone" in _call("current_time", {"timezone": "Mars/Olympus"})["error"]


def test_units_convert_and_mismatched_dimensions_are_explained():
    answer = _call("convert_units", {"value": 100, "from_unit": "km", "to_unit": "mile"})
    assert answer["output"]["result"] == pytest.approx(62.1371192, rel=1e-6)
    celsius = _call("convert_units", {"value": 100, "from_unit": "degC", "to_unit": "degF"})
    assert celsius["output"]["result"] == pytest.approx(212)
    assert (
        "cannot be converted"
        in _call("convert_units", {"value": 1, "from_unit": "kg", "to_unit": "meter"})["error"]
    )


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ('{"expression": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({}, "'expression' is a required property"),
        ({"expression": 42}, "42 is not of type 'string'"),
        ({"expression": "1", "extra": True}, "Additional properties are not allowed"),
    ],
)
def test_invalid_arguments_come_back_as_an_error_the_model_can_correct(arguments, says):
    answer = _call("calculator", arguments)
    assert answer["ok"] is False and says in answer["error"]


def test_an_unknown_tool_is_named_with_the_ones_that_exist():
    answer = _call("weather", {"city": "Paris"})
    assert answer["ok"] is False and "calculator" in answer["error"]


def test_a_slow_tool_is_stopped_at_its_timeout():
    async def dawdle() -> str:
        await asyncio.sleep(5)
        return "too late"

    tools = Registry()
    tools.register(
        ToolSpec("slow", "Sleeps.", {"type": "object"}, handler=dawdle, timeout_seconds=0.05)
    )
    result = asyncio.run(tools.call("slow", "{}"))
    assert result.ok is False and "longer than 0.05 s" in result.error
    assert json.loads(result.content()) == {"error": result.error}


def test_a_tool_is_offered_in_each_providers_format():
    spec = registry.get("calculator")
    assert spec.openai_format()["function"]["parameters"]["required"] == ["expression"]
    assert spec.anthropic_format()["input_schema"]["required"] == ["expression"]
    assert [s.name for s in registry.allowed(["convert_units", "nope", "calculator"])] == [
        "convert_units",
        "calculator",
    ]

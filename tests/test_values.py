"""lunge.values.quick_init: the same values as dataclasses' own __init__, built faster."""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field

import pytest

from lunge.values import quick_init


def _value_class() -> type:
    """A fresh class with every kind of field quick_init supports (defined twice below: one
    keeps dataclasses' own __init__, the other gets quick_init's)."""

    @dataclass(frozen=True, slots=True)
    class Value:
        a: int
        b: str = "b"
        c: list[int] = field(default_factory=list)
        d: tuple[int, ...] = field(default=(), kw_only=True)
        e: list[str] = field(default_factory=lambda: ["x"], init=False, compare=False)
        f: int = field(default=7, init=False)

    return Value


_Plain = _value_class()
_Quick = quick_init(_value_class())


def _fields(value: object) -> dict[str, object]:
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}  # type: ignore[arg-type]


@pytest.mark.parametrize("args, kwargs", [((1,), {}), ((1, "z"), {}), ((1, "z", [3]), {"d": (4,)}),
                                          ((), {"a": 2, "c": [9]})])
def test_the_same_values_as_the_dataclass_init(args: tuple, kwargs: dict) -> None:
    assert _fields(_Quick(*args, **kwargs)) == _fields(_Plain(*args, **kwargs))


def test_the_same_signature_factories_called_each_time_and_still_frozen() -> None:
    def shape(cls: type) -> list[tuple[str, object]]:
        return [(p.name, p.kind) for p in inspect.signature(cls).parameters.values()]

    assert shape(_Quick) == shape(_Plain)
    one, two = _Quick(1), _Quick(1)
    assert one.c is not two.c and one.e is not two.e  # a fresh list per value, as default_factory means
    assert one == two
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.a = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        _Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Quick(1, "b", [], (1,))  # type: ignore[misc]  # d is keyword-only


def test_post_init_runs_and_other_classes_are_refused() -> None:
    seen = []

    @quick_init
    @dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            seen.append(self.a)

    Checked(3)
    assert seen == [3]

    @dataclass(slots=True)
    class Mutable:
        a: int

    with pytest.raises(TypeError):
        quick_init(Mutable)

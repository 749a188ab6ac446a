"""What each model-configuration choice costs, one at a time (issue 13).

``python -m bench.configs [-n N]`` clones the telephony body's model tree (the classes in
``rcstream.models.telephony``) under a series of configurations, each differing from the
previous one-off baseline in a single choice, and times ``model_validate_json`` of the same
body bytes the flood server sends. Printed in microseconds per body, best of 5, GC off; the
``json.loads`` line is the floor's work on the same bytes.
"""

from __future__ import annotations

import argparse
import functools
import json
import types
import typing
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, create_model
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from bench.breakdown import _drain, _per_item
from bench.flood import build_notifications

#: The configuration rcstream shipped before issue 13.
BEFORE: dict[str, Any] = {
    "extra": "allow",
    "populate_by_name": True,
    "alias_generator": to_camel,
    "frozen": True,
    "strict": True,
}


def _enum_of(tp: Any) -> type[Enum] | None:
    """The enum inside an ``Open[E]`` annotation, or None."""
    if typing.get_origin(tp) is not Annotated:
        return None
    inner = typing.get_args(tp)[0]
    if typing.get_origin(inner) not in (Union, types.UnionType):
        return None
    for arg in typing.get_args(inner):
        if typing.get_origin(arg) is Annotated:
            e = typing.get_args(arg)[0]
            if isinstance(e, type) and issubclass(e, Enum):
                return e
    return None


def _lookup(enum: type[Enum]) -> Callable[[str], Any]:
    members = enum._value2member_map_
    return lambda v: members.get(v, v)


def clone_tree(root: type[BaseModel], config: dict[str, Any], enums: str) -> type[BaseModel]:
    """``root`` and every model it nests, rebuilt with ``config``.

    ``enums``: ``"open"`` keeps ``Open[E]``; ``"str"`` makes them plain ``str``;
    ``"lookup"`` is ``str`` plus an after-validator mapping known values to members;
    ``"any"`` makes every leaf (strings, ids, enums, booleans) ``Any``: the same model
    instances with no value checked at all.
    """
    done: dict[type[BaseModel], type[BaseModel]] = {}

    def sub(tp: Any) -> Any:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return build(tp)
        if enums == "any":
            origin = typing.get_origin(tp)
            if origin in (Union, types.UnionType):
                models = [
                    a
                    for a in typing.get_args(tp)
                    if typing.get_origin(a) is list
                    or (isinstance(a, type) and issubclass(a, BaseModel))
                ]
                return Union[(*(sub(a) for a in models), None)] if models else Any
            if origin is list:
                return list[sub(typing.get_args(tp)[0])]  # type: ignore[misc]
            return Any
        enum = _enum_of(tp)
        if enum is not None and enums != "open":
            if enums == "str":
                return str
            return Annotated[str, AfterValidator(_lookup(enum))]
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Annotated:
            return Annotated[(sub(args[0]), *tp.__metadata__)]
        if origin in (Union, types.UnionType):
            return Union[tuple(sub(a) for a in args)]  # noqa: UP007
        if origin is list:
            return list[sub(args[0])]  # type: ignore[misc]
        return tp

    def build(cls: type[BaseModel]) -> type[BaseModel]:
        if cls in done:
            return done[cls]
        fields: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            alias = info.alias if info.alias and info.alias != to_camel(name) else None
            fi = FieldInfo(default=info.default, alias=alias) if alias else info.default
            fields[name] = (sub(info.annotation), fi)
        cfg = ConfigDict(**config)  # type: ignore[typeddict-item]
        new: type[BaseModel] = create_model(cls.__name__, __config__=cfg, **fields)
        done[cls] = new
        return new

    return build(root)


def variants() -> list[tuple[str, dict[str, Any], str]]:
    """(label, config, enum mode): the old config, each choice dropped alone, and the new."""
    out: list[tuple[str, dict[str, Any], str]] = [("before (all five choices)", BEFORE, "open")]
    for key in ("strict", "extra", "frozen", "populate_by_name"):
        cfg = {k: v for k, v in BEFORE.items() if k != key}
        out.append((f"before without {key}", cfg, "open"))
    out.append(("before, Open[E] -> str", BEFORE, "str"))
    out.append(("before, Open[E] -> str + dict lookup", BEFORE, "lookup"))
    after = {"alias_generator": to_camel, "frozen": True}
    out.append(("after: aliases + frozen, lax, no extra, Open[E]", after, "open"))
    out.append(("after, Open[E] -> str + dict lookup", after, "lookup"))
    out.append(("after without frozen", {"alias_generator": to_camel}, "open"))
    out.append(("after + strict", {**after, "strict": True}, "open"))
    out.append(("shipped config, every leaf Any (no value checked)", _SHIPPED, "any"))
    out.append(("shipped config, as shipped", _SHIPPED, "open"))
    return out


#: The configuration rcstream ships since issue 13 (``rcstream.models.base``), minus
#: ``defer_build``, which only moves when the schema is built.
_SHIPPED: dict[str, Any] = {
    "strict": True,
    "populate_by_name": True,
    "alias_generator": to_camel,
    "frozen": True,
    "cache_strings": False,
}


class _Empty(BaseModel):
    pass


def _instances(value: Any) -> int:
    """Model instances in a validated tree."""
    if isinstance(value, BaseModel):
        return 1 + sum(_instances(v) for v in value.__dict__.values())
    if isinstance(value, list):
        return sum(_instances(v) for v in value)
    return 0


def _validate_all(cls: type[BaseModel], bodies: list[bytes]) -> None:
    _drain(map(cls.model_validate_json, bodies))


def run(n: int) -> dict[str, float]:
    """Microseconds per body for each variant."""
    from rcstream.models import TelephonySessionsBody

    frames = build_notifications(n, family="telephony-sessions", seed=1)
    bodies = [
        json.dumps(json.loads(f[4:])[1]["body"], separators=(",", ":")).encode() for f in frames
    ]
    out: dict[str, float] = {"json.loads": _per_item(lambda: _drain(map(json.loads, bodies)), n)}
    for label, cfg, enums in variants():
        cls = clone_tree(TelephonySessionsBody, cfg, enums)
        cls.model_validate_json(bodies[0])  # build the schema outside the timing
        out[label] = _per_item(functools.partial(_validate_all, cls, bodies), n)
    empties = [b"{}"] * n
    out["one empty model (one instance, nothing to check)"] = _per_item(
        functools.partial(_validate_all, _Empty, empties), n
    )
    per_body = sum(_instances(TelephonySessionsBody.model_validate_json(b)) for b in bodies) / n
    out[f"(model instances per body, mean: {per_body:.1f}; the envelope adds 1)"] = 0.0
    return out


def main(argv: list[str] | None = None) -> None:
    """Print the table."""
    p = argparse.ArgumentParser(prog="python -m bench.configs")
    p.add_argument("-n", type=int, default=3000)
    a = p.parse_args(argv)
    for name, us in run(a.n).items():
        print(f"{us:8.2f} us  {name}")


if __name__ == "__main__":
    main()

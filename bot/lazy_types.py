"""Import aiogram with its Telegram types' validators built on first use.

At import, aiogram builds a pydantic validator for every one of its ~440 Telegram
types (`model_rebuild` over `aiogram.types.__all__`), and each inlines the schemas of
the types it holds — a Message's in every type that carries one. That is about
100 MB of the process (`import aiogram.types`: 165 MB RSS, against 60 MB with the
builds deferred), for types this bot mostly never sees. `import_aiogram()` imports
aiogram with those rebuilds deferred and gives each type the namespace aiogram would
have resolved its forward references in; pydantic builds a type's validator the
first time the type is used (its `defer_build`), exactly as aiogram's rebuild would
have. `bot/__init__.py` calls it before anything imports aiogram; if aiogram was
imported already it does nothing (everything is built, as usual).

Measured by bench/memory.py."""

from __future__ import annotations

import sys
from typing import Any, TypeVar

M = TypeVar("M", bound=type[Any])
_namespace: dict[str, Any] | None = None  # aiogram's types namespace, when imported this way


def import_aiogram() -> None:
    if "aiogram" in sys.modules:
        return
    import pydantic

    rebuild = pydantic.BaseModel.__dict__["model_rebuild"]
    deferred: list[tuple[type[Any], dict[str, Any]]] = []

    def defer(cls: type[Any], *args: Any, _types_namespace: dict[str, Any] | None = None, **kw: Any) -> Any:
        if cls.__module__.startswith("aiogram.types.") and _types_namespace is not None and not args and not kw:
            deferred.append((cls, _types_namespace))
            return None
        return rebuild.__func__(cls, *args, _types_namespace=_types_namespace, **kw)

    pydantic.BaseModel.model_rebuild = classmethod(defer)  # type: ignore[assignment,method-assign]
    try:
        import aiogram  # noqa: F401
    finally:
        pydantic.BaseModel.model_rebuild = rebuild  # type: ignore[method-assign]
    if not deferred:
        return
    # What a deferred build resolves forward references in (see BaseModel.model_rebuild):
    # the namespace aiogram gives its types — for the types, and for every other model of
    # aiogram's (the methods, `Response[…]` and its parametrizations, which inherit it):
    # a model built before the types it holds resolves their annotations in its own.
    global _namespace
    namespace = _namespace = deferred[0][1]
    for cls in _models(pydantic.BaseModel):
        if cls.__module__.startswith("aiogram.") and cls.__dict__.get("__pydantic_parent_namespace__") is None:
            cls.__pydantic_parent_namespace__ = namespace


def like_aiogram(cls: M) -> M:
    """For a model of ours that subclasses or holds aiogram's types (a class decorator):
    resolve its annotations where aiogram's own models resolve theirs."""
    if _namespace is not None and cls.__dict__.get("__pydantic_parent_namespace__") is None:
        cls.__pydantic_parent_namespace__ = _namespace
    return cls


def _models(base: type[Any]) -> list[type[Any]]:
    seen: set[type[Any]] = set()
    stack = list(base.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls not in seen:
            seen.add(cls)
            stack.extend(cls.__subclasses__())
    return list(seen)

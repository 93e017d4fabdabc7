"""One router per flow: common (help, language, privacy), resident (the
questionnaire), cadre (items, comments, off-list reports), organizer (the console)."""

from __future__ import annotations

from aiogram import Router


def all_routers() -> list[Router]:
    """The routers in the order they see updates. Routers are module singletons; a
    process normally builds one Dispatcher, but tests build many, so a router is
    detached from the Dispatcher it was attached to before."""
    from bot.routers import cadre, common, organizer, resident

    # resident last: it resumes the questionnaire on any message nobody else took
    routers = [common.router, organizer.router, cadre.router, resident.router, common.fallback]
    for router in routers:
        router._parent_router = None  # noqa: SLF001 — see the docstring
    return routers

"""The Telegram side of Qingdan: aiogram routers, keyboards, middlewares, the
scheduler and broadcaster, the local Bot API sandbox, and the CLI."""

from bot.lazy_types import import_aiogram

import_aiogram()

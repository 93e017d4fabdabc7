"""The Telegram side of Qingdan: aiogram routers, keyboards, middlewares, the
scheduler and broadcaster, the local Bot API sandbox, and the CLI."""

"""`python -m bot …` is `qingdan …`."""

from bot.cli import app

app()

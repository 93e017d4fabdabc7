"""`python -m bot …` is `qingdan …` (bot.cli.main; `kill -USR1 <pid>` prints every
thread's stack to stderr there, for either)."""

from bot.cli import main

main()

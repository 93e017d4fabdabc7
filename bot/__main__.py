"""`python -m bot …` is `qingdan …`. `kill -USR1 <pid>` prints every thread's stack to
stderr (for a process that seems stuck)."""

import faulthandler
import signal

faulthandler.register(signal.SIGUSR1, all_threads=True)

from bot.cli import main  # noqa: E402

main()

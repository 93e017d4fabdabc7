"""A local Telegram Bot API sandbox with a web chat: `qingdan sandbox`, the demo,
end-to-end tests and benchmarks talk to it instead of api.telegram.org."""

from bot.sandbox.client import SandboxError, SandboxUser
from bot.sandbox.limits import Faults, RateLimits
from bot.sandbox.server import ApiError, RunningSandbox, Sandbox, create_app, running_sandbox

__all__ = ["ApiError", "Faults", "RateLimits", "RunningSandbox", "Sandbox", "SandboxError", "SandboxUser",
           "create_app", "running_sandbox"]

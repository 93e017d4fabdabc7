"""Settings from a file named on the command line (`qingdan --env-file PATH`, or ENV_FILE):
README's upgrade command, run as written against an env file whose values hold what a
shell would take apart (`&`, `;`, `$`, spaces, quotes), reads them as written; a file
that is not there is said, and nothing is done."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from bot.config import EX_CONFIG, Settings
from storage.migrate import schema_state

README = Path(__file__).resolve().parents[2] / "README.md"
QINGDAN = Path(sys.executable).parent / "qingdan"
ENV_PATH = "/etc/qingdan/qingdan.env"  # as README names them
VENV_QINGDAN = "/srv/qingdan/.venv/bin/qingdan"


def _readme_upgrade_command() -> str:
    text = README.read_text(encoding="utf-8")
    upgrading = text[text.index("**Upgrading.**"):]
    block = re.search(r"```bash\n(.*?)```", upgrading, flags=re.S)
    assert block is not None
    lines = [line for line in block.group(1).splitlines() if "db upgrade" in line]
    assert len(lines) == 1, lines
    return lines[0]


def _environment() -> dict[str, str]:
    names = {name.upper() for name in Settings.model_fields} | {"ENV_FILE"}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env["PYTHONPATH"] = str(README.parent)
    return env


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, shell=True, cwd=cwd, env=_environment(), capture_output=True, text=True,
                          timeout=120)


def test_the_readme_upgrade_command_reads_an_env_file_with_shell_characters_as_written(tmp_path: Path) -> None:
    folder = tmp_path / "data dir"
    folder.mkdir()
    db = folder / "q&a;b$c.db"
    key = "a b&c;d$e`f'g\"h"
    env_file = tmp_path / "qingdan.env"
    env_file.write_text("# settings (comments on lines of their own)\n"
                        f"DATABASE_URL=sqlite+aiosqlite:///{db}\n"
                        f"PSEUDONYM_KEY={key}\n"
                        "ORGANIZER_IDS=11111111, 22222222\n"
                        "LOCALE=en\n", encoding="utf-8")
    assert Settings(_env_file=env_file).pseudonym_key == key

    command = _readme_upgrade_command().removeprefix("sudo -u qingdan ")
    assert ENV_PATH in command and VENV_QINGDAN in command, command
    command = command.replace(ENV_PATH, str(env_file)).replace(VENV_QINGDAN, str(QINGDAN))
    workdir = tmp_path / "work"
    workdir.mkdir()
    done = _run(command, workdir)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    assert db.exists() and schema_state(f"sqlite:///{db}").current
    assert list(workdir.iterdir()) == []  # no qingdan.db of the default in the working folder
    assert done.stdout.startswith("The database schema is at revision")  # LOCALE=en, from the file


def test_env_file_from_the_environment_too_and_a_missing_one_is_said(tmp_path: Path) -> None:
    db = tmp_path / "e.db"
    env_file = tmp_path / "e.env"
    env_file.write_text(f"DATABASE_URL=sqlite:///{db}\n", encoding="utf-8")
    done = _run(f"ENV_FILE='{env_file}' '{QINGDAN}' db upgrade", tmp_path)
    assert done.returncode == 0, done.stderr
    assert schema_state(f"sqlite:///{db}").current

    missing = tmp_path / "nowhere.env"
    done = _run(f"LOCALE=en '{QINGDAN}' --env-file '{missing}' db upgrade", tmp_path)
    assert done.returncode == EX_CONFIG
    assert done.stderr.strip() == f"No settings file {missing} (named by --env-file or ENV_FILE)."
    assert not (tmp_path / "qingdan.db").exists()  # nothing done, not even on the default database


def test_a_settings_file_that_cannot_be_read_is_named_with_the_reason_not_a_traceback(tmp_path: Path) -> None:
    """README's upgrade step reads /etc/qingdan/qingdan.env as the qingdan user; a root-only
    file (systemd reads it as root) stopped it with a traceback. (/proc/self/mem stands for an
    unreadable file here: the tests run as root, whom file permissions do not stop.)"""
    unreadable = Path("/proc/self/mem")
    if not unreadable.is_file():
        import pytest

        pytest.skip("no /proc/self/mem")
    done = _run(f"LOCALE=en '{QINGDAN}' --env-file {unreadable} db upgrade", tmp_path)
    assert done.returncode == EX_CONFIG and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().startswith(f"Cannot read the settings file {unreadable}: Input/output error. "
                                          "The user running the command must be able to read it")
    assert not (tmp_path / "qingdan.db").exists()


def test_the_readme_deploying_section_creates_the_user_folders_and_venv_before_it_uses_them() -> None:
    """A newcomer following "Deploying" line by line met `sudo chown root:qingdan …` ("invalid
    group") and `sudo -u qingdan /srv/qingdan/.venv/bin/qingdan …` ("unknown user", then no such
    file): nothing said to create the `qingdan` user, /srv/qingdan with its venv, or /etc/qingdan.
    Each is now created by a command that comes before the first one that needs it."""
    text = README.read_text(encoding="utf-8")
    deploying = text[text.index("## Deploying"):text.index("## Layout")]

    def first(pattern: str) -> int:
        found = re.search(pattern, deploying)
        assert found is not None, pattern
        return found.start()

    user = first(r"sudo adduser --system --group [^\n`]*\bqingdan\b")
    assert user < first(r"sudo -u qingdan ") and user < first(r"root:qingdan")
    assert first(r"sudo install -d -o qingdan -g qingdan /srv/qingdan") < first(r"sudo -u qingdan git clone ")
    assert first(r"sudo -u qingdan python3 -m venv /srv/qingdan/\.venv") < first(r"/srv/qingdan/\.venv/bin/pip install")
    assert first(r"/srv/qingdan/\.venv/bin/pip install") < first(re.escape(VENV_QINGDAN))
    assert first(r"sudo install -d [^\n`]*/etc/qingdan\b") < first(r"chown root:qingdan /etc/qingdan/qingdan\.env")


def test_the_readme_upgrade_steps_fetch_the_new_version_before_installing_it() -> None:
    """README's upgrade began with `pip install -U /srv/qingdan` (`# or git pull && pip install .`):
    run as written it installed again the code already in /srv/qingdan — the new version was
    never fetched — and the restart ran the old one. The steps now bring the new code into
    /srv/qingdan first, then install it, then migrate, then restart."""
    text = README.read_text(encoding="utf-8")
    upgrading = text[text.index("**Upgrading.**"):]
    block = re.search(r"```bash\n(.*?)```", upgrading, flags=re.S)
    assert block is not None
    commands = [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.strip()]
    order = [next((n for n, c in enumerate(commands) if re.search(pattern, c)), None) for pattern in (
        r"^sudo -u qingdan git -C /srv/qingdan pull$",
        r"^sudo -u qingdan /srv/qingdan/\.venv/bin/pip install /srv/qingdan$",
        r"db upgrade$",
        r"^sudo systemctl restart ")]
    assert None not in order and order == sorted(order), commands

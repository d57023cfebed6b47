"""A private dovecot IMAP server for tests (Debian's ``dovecot-imapd``, installed by
scripts/system-deps.sh; the system service is never enabled or used).

Each server gets its own config file in a temporary folder, a free loopback port, plaintext
authentication (loopback only, no TLS), one passwd-file user and Maildir storage under the
folder, and runs in the foreground (``dovecot -F -c conf``) as a child of the test. As root
(CI), mail is owned by the ``dovecot`` system user, since dovecot refuses mail access as
uid 0. Absent dovecot: skip with the reason locally, fail under CI=true.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.services import absent, port_open
from tests.smtp_sink import free_port

DOVECOT_PATHS = ("/usr/sbin/dovecot", "/usr/bin/dovecot")


@dataclass(frozen=True)
class ImapServer:
    """One user's view of the server (its own Maildir)."""

    host: str
    port: int
    user: str
    password: str

    def url(self, folder: str = "INBOX") -> str:
        return f"imap://{self.user}:{self.password}@{self.host}:{self.port}/{folder}"


SPARE_USERS = 100


@dataclass
class Dovecot:
    """A running private dovecot; :meth:`new_user` gives each test a mailbox of its own (from
    users written before it started: dovecot notices a changed passwd-file by its mtime, in
    whole seconds), so one server serves a module."""

    host: str
    port: int
    first: ImapServer
    spare: list[ImapServer]

    def new_user(self) -> ImapServer:
        assert self.spare, f"more than {SPARE_USERS} users asked of one dovecot"
        return self.spare.pop()


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot")
    if found:
        return found
    return next((p for p in DOVECOT_PATHS if os.access(p, os.X_OK)), None)


def _config(root: Path, port: int, uid: int, gid: int, internal_user: str, login_user: str) -> str:
    return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = sincro-test-{port}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{root}/mail/%u
first_valid_uid = {min(uid, 500)}
first_valid_gid = {min(gid, 500)}
default_internal_user = {internal_user}
default_internal_group = {grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name}
default_login_user = {login_user}
mail_uid = {uid}
mail_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
protocol imap {{
  mail_max_userip_connections = 50
  imap_idle_notify_interval = 1 secs
}}
"""


@contextmanager
def running_dovecot(user: str = "cadastro") -> Iterator[ImapServer]:
    """A private dovecot on a free loopback port with one user; stopped at the end."""
    with running_dovecot_server(user) as server:
        yield server.first


@contextmanager
def running_dovecot_server(user: str = "cadastro") -> Iterator[Dovecot]:
    """A private dovecot on a free loopback port (more users with ``new_user``)."""
    binary = dovecot_binary()
    if binary is None:
        absent("dovecot", "the dovecot command is missing; run scripts/system-deps.sh")
    assert binary is not None
    root = Path(tempfile.mkdtemp(prefix="sincro-dovecot-"))
    password = secrets.token_urlsafe(12)
    port = free_port()
    if os.getuid() == 0:  # dovecot refuses uid 0 for mail: the package's own users
        mail = pwd.getpwnam("dovecot")
        uid, gid, internal, login = mail.pw_uid, mail.pw_gid, "dovecot", "dovenull"
    else:
        me = pwd.getpwuid(os.getuid())
        uid, gid, internal, login = me.pw_uid, me.pw_gid, me.pw_name, me.pw_name
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    spare = [
        (f"u{n}-{secrets.token_hex(4)}", secrets.token_urlsafe(12)) for n in range(SPARE_USERS)
    ]
    (root / "users").write_text(
        "".join(f"{name}:{{PLAIN}}{secret}\n" for name, secret in [(user, password), *spare])
    )
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port, uid, gid, internal, login))
    if os.getuid() == 0:
        os.chmod(root, 0o755)
        for sub in ("mail", "home"):
            os.chown(root / sub, uid, gid)
    proc = subprocess.Popen(
        [binary, "-F", "-c", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not port_open("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.communicate(timeout=5)[0].decode(errors="replace")
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                absent("dovecot", f"it did not start: {(output + log).strip()[-800:]}")
            time.sleep(0.05)
        first = ImapServer("127.0.0.1", port, user, password)
        others = [ImapServer("127.0.0.1", port, name, secret) for name, secret in spare]
        yield Dovecot("127.0.0.1", port, first, others)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        shutil.rmtree(root, ignore_errors=True)

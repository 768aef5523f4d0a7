"""A terminal for interactive tests: one tmux server per Tmux object, on a
private socket (-L), running a plain shell whose environment points the
docker CLI at the test daemon. Tests type into it and read the screen."""

import os
import subprocess
import uuid

from conftest import poll_until

PROMPT = "tmux$ "


class Tmux:
    def __init__(self, env, width=100, height=30):
        self.sock = "berth-test-%s" % uuid.uuid4().hex[:12]
        self.env = dict(env)
        self.env.pop("TMUX", None)
        self.env["PS1"] = PROMPT
        self.env["HOME"] = self.env.get("HOME", "/root")
        # /bin/sh (dash): no rc files, a fixed prompt, nothing to surprise a test.
        self._tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height),
                   "env PS1='%s' /bin/sh" % PROMPT)
        self._tmux("set-option", "-g", "history-limit", "5000")
        self.wait_for(PROMPT)

    def _tmux(self, *args):
        p = subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null"] + list(args),
                           env=self.env, capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, (args, p.stderr)
        return p.stdout

    def type(self, text):
        """Literal text, no Enter."""
        self._tmux("send-keys", "-t", "t", "-l", "--", text)

    def line(self, text):
        self.type(text)
        self.keys("Enter")

    def keys(self, *names):
        """tmux key names: Enter, C-c, C-p, BSpace ..."""
        self._tmux("send-keys", "-t", "t", *names)

    def screen(self):
        """The pane's history and visible lines, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "t", "-S", "-5000")

    def wait_for(self, text, timeout=30, count=1):
        """Poll until `text` shows `count` times; fail with the screen."""
        found = poll_until(lambda: self.screen().count(text) >= count, timeout)
        assert found, "%r not on screen:\n%s" % (text, self.screen())

    def resize(self, width, height):
        self._tmux("resize-window", "-t", "t", "-x", str(width), "-y", str(height))

    def kill(self):
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], env=self.env,
                       capture_output=True, timeout=20)
        # The server's socket file under /tmp/tmux-UID/ goes with it.
        path = os.path.join("/tmp", "tmux-%d" % os.getuid(), self.sock)
        if os.path.exists(path):
            os.unlink(path)

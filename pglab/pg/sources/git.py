"""The git channel: PostgreSQL's upstream repository, one shallow clone per release tag."""

import os
import re
import shutil
import subprocess

from ... import ui
from ...errors import ChannelSkip, Unfetchable
from ..versions import Release
from .channel import Channel, Memo
from .store import private_staging, refuse_other_release, release_lock, replace_cached, reuse_cached

_GIT_ENV = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password prompt
_TAG_RE = re.compile(r"refs/tags/REL_(\d+)_(\d+|BETA\d+|RC\d+)$")
_PEELED_RE = re.compile(r"^([0-9a-f]{40,64})\trefs/tags/(REL_\w+?)(\^\{\})?$")


def tag_for(release):
    """17.11 -> REL_17_11, 19beta2 -> REL_19_BETA2, 19rc1 -> REL_19_RC1."""
    text = str(release)
    if release.stable:
        return "REL_" + text.replace(".", "_")
    m = re.match(r"(\d+)([a-z]+)(\d+)", text)
    return f"REL_{m.group(1)}_{m.group(2).upper()}{m.group(3)}"


def parse_tags(ls_remote_output):
    releases = []
    for line in ls_remote_output.splitlines():
        m = _TAG_RE.search(line.strip())
        if m:
            major, rest = m.groups()
            text = f"{major}.{rest}" if rest.isdigit() else f"{major}{rest.lower()}"
            releases.append(Release.parse(text))
    return releases


def tag_commits(ls_remote_output):
    """{tag: commit} from `git ls-remote --tags`: an annotated tag's commit is the
    line with ^{} (its peeled value), a lightweight tag's the tag's own line."""
    commits = {}
    for line in ls_remote_output.splitlines():
        m = _PEELED_RE.match(line.strip())
        if m and (m.group(3) or m.group(2) not in commits):
            commits[m.group(2)] = m.group(1)
    return commits


def first_error(stderr):
    """The line of git's stderr that says what went wrong: the first fatal or error
    line (the server's own, when it sent one), not the fallout after it."""
    lines = [l.strip() for l in stderr.splitlines() if l.strip()]
    for line in lines:
        text = line.removeprefix("remote: ")
        if text.startswith(("fatal:", "error:")):
            return text
    return lines[-1] if lines else "git failed"


class GitChannel(Channel):
    name = "git"

    def __init__(self, settings):
        super().__init__(settings)
        self.commits = {}       # tag -> the commit ls-remote listed for it

    def catalog(self):
        if shutil.which("git") is None:
            raise ChannelSkip("git is not installed")
        memo = Memo(self.settings)
        recent = memo.recent_failure(self.name, self.settings.git_url)
        if recent:
            raise ChannelSkip(recent)
        url = self.settings.git_url
        try:
            out = subprocess.run(["git", "ls-remote", "--tags", url], capture_output=True, text=True,
                                 timeout=30, env=_GIT_ENV)
        except subprocess.TimeoutExpired:
            out = None
        if out is None or out.returncode != 0:
            reason = (out.stderr.strip().splitlines() or ["no answer"])[-1] if out else "timed out after 30 s"
            detail = reason.split("': ", 1)[-1].removeprefix("fatal: ")
            reason = f"upstream repository unreachable ({detail})"
            memo.failed(self.name, reason, self.settings.git_url)
            raise ChannelSkip(reason)
        self.commits = tag_commits(out.stdout)
        return parse_tags(out.stdout)

    def fetch(self, release):
        """A shallow clone of the release's tag, checked to be the commit the tag
        was listed with and to say it is `release`."""
        tag = tag_for(release)
        origin = f"{self.settings.git_url} {tag}"
        listed = self.commits.get(tag)
        with release_lock(self.settings, release):
            if listed:
                tree = reuse_cached(self.settings, release, {f"git:{listed}": origin}, channel=self.name)
                if tree is not None:
                    return tree
            staging = private_staging(self.settings.layout.sources / str(release), "clone")
            try:
                commit = self._clone(tag, staging)
                if listed and commit != listed:
                    raise Unfetchable(f"git clone of {tag} gave commit {commit}, not {listed} as the tag was listed",
                                      f"its clone is of commit {commit}, not the {listed} its tag was listed with")
                refuse_other_release(staging, release, origin)
                return replace_cached(self.settings, staging, release, channel=self.name, identity=f"git:{commit}",
                                      origin=origin)
            finally:   # renamed into place, or gone: no half-made clone stays behind
                shutil.rmtree(staging, ignore_errors=True)

    def _clone(self, tag, staging):
        """Clone the tag into the (empty) staging folder; its commit."""
        with ui.phase(f"git clone {tag}"):
            try:
                done = subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", tag,
                                       "-c", "advice.detachedHead=false", self.settings.git_url, str(staging)],
                                      capture_output=True, text=True, timeout=1800, env=_GIT_ENV)
            except subprocess.TimeoutExpired:
                done = subprocess.CompletedProcess([], 1, "", "no progress in 30 minutes")
            if done.returncode != 0:  # raised inside the phase, so it is not reported as done
                why = first_error(done.stderr)
                raise Unfetchable(f"git clone of {tag} failed: {why}", f"git clone of {tag} failed ({why})")
        return subprocess.run(["git", "-C", str(staging), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()

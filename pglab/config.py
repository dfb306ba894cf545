"""Project settings: the `pglab` section of invoke's configuration, and where pglab runs from.

The defaults are declared here and nowhere else.  pglab/tasks.py hands them to invoke
(`ns.configure`), so invoke's own precedence applies on top: invoke.yaml (which
documents each key; read in a clone), then INVOKE_PGLAB_* environment variables, then
flags.  Library callers and tests use `Settings.load()`, which reads the same files and
environment the same way.

pglab runs from a clone (`./lab`, `invoke`; also an editable install) or from an
installed wheel (the `pglab` command).  In a clone everything is relative to it:
PROJECT_ROOT is the clone, the working area is its pg_source/.  From a wheel the
package's folder is site-packages, which is nobody's project: PROJECT_ROOT is the
folder pglab was started in (its extensions/, its labs/), and the working area is that
project's own: .pglab/ at the top of the git repository pglab was started in (an
extension's repository; git ignores it, by a .gitignore inside it), else the user's
(default_state()).  The build cache is the machine's either way.
"""

import os
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from pathlib import Path

from .errors import PglabError

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def _is_clone(folder):
    """A clone (or a copy of one) holds the `lab` script and pyproject.toml beside the package."""
    return (folder / "lab").is_file() and (folder / "pyproject.toml").is_file() and (folder / "tasks.py").is_file()


IN_CLONE = _is_clone(_PACKAGE_PARENT)
PROJECT_ROOT = _PACKAGE_PARENT if IN_CLONE else Path.cwd()
# the labs: a clone's labs/, installed beside the package as pglab_labs (pyproject's package-dir)
LABS_HOME = _PACKAGE_PARENT / ("labs" if IN_CLONE else "pglab_labs")
DEFAULT_LAB_PLAN = Path("labs/plan/20-week-plan.md")
DEFAULT_ROOT = Path("pg_source")        # the working area's default, under a clone
_KINDS = {int: "a whole number", float: "a number", str: "text"}


def via():
    """The command the user runs pglab with, for messages that name one: `./lab` (set by the
    lab script), `pglab` (the console script sets it; the only one from a wheel) or `invoke`."""
    return os.environ.get("PGLAB_VIA") or ("invoke" if IN_CLONE else "pglab")


def as_typed(text):
    """A message written with `invoke TASK` in it, as the user's own command names it."""
    front = via()
    return text if front == "invoke" else text.replace("`invoke ", f"`{front} ")


@dataclass(frozen=True)
class Settings:
    version: str = "16"                 # build-pg's default major (the curriculum's)
    flavour: str = "debug"              # debug (-O0 -g3, cassert) or opt (-O2 -g)
    root: Path = DEFAULT_ROOT           # the working area: relative to a clone; from a wheel, default_area()
    cache: Path = Path("")              # the build cache: "" = /var/cache/pglab as root, else ~/.cache/pglab
    jobs: int = 0                       # parallel make jobs; 0 = one per core
    memo_hours: float = 6.0             # how long an unreachable network channel is remembered
    git_url: str = "https://git.postgresql.org/git/postgresql.git"
    tarball_url: str = "https://ftp.postgresql.org/pub/source"
    account: str = ""                   # as root: the account servers and code under test run as; "" = pglab
    test_majors: str = "13,14,15,16,17,18,19"   # `invoke test` builds each one it can obtain
    ext_idle_timeout: float = 300.0     # ext-test: seconds without a finished test before a suite is hung
    warm_servers: int = 3               # ext-test: servers kept warm at most (the least recently used stops)
    warm_idle_minutes: float = 30.0     # ext-test: a warm server unused this long stops by itself
    lab_plan: Path = DEFAULT_LAB_PLAN   # the learner's plan (`labs --status`); relative: to the clone

    @classmethod
    def defaults(cls):
        """The defaults as invoke configuration (plain values)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cls()).items()}

    @classmethod
    def from_mapping(cls, mapping):
        types = {f.name: f.type for f in fields(cls)}
        values = {}
        for key, kind in types.items():
            value = mapping.get(key) if hasattr(mapping, "get") else None
            if value is None or (kind is Path and str(value).strip() in ("", ".") and key in ("root", "lab_plan")):
                continue        # an empty working area (INVOKE_PGLAB_ROOT=) means the default, never the clone
            try:
                values[key] = Path(os.path.expanduser(str(value))) if kind is Path else kind(value)
            except ValueError:
                raise PglabError(f"setting {key}: {value!r} is not {_KINDS[kind]} (set in invoke.yaml or as "
                                 f"INVOKE_PGLAB_{key.upper()})") from None
        settings = cls(**values)
        if not settings.root.is_absolute():
            in_place = IN_CLONE or settings.root != DEFAULT_ROOT
            settings = replace(settings, root=PROJECT_ROOT / settings.root if in_place else default_area())
        if settings.lab_plan == DEFAULT_LAB_PLAN:        # pglab's own, wherever its labs are
            settings = replace(settings, lab_plan=LABS_HOME / settings.lab_plan.relative_to("labs"))
        elif not settings.lab_plan.is_absolute():
            settings = replace(settings, lab_plan=PROJECT_ROOT / settings.lab_plan)
        if str(settings.cache) in ("", "."):
            settings = replace(settings, cache=default_cache())
        elif not settings.cache.is_absolute():
            settings = replace(settings, cache=PROJECT_ROOT / settings.cache)
        return settings

    @classmethod
    def load(cls, **overrides):
        """Settings as `invoke` would see them in this project (defaults, yaml, env)."""
        from invoke import Config

        cfg = Config(defaults={**Config.global_defaults(), "pglab": cls.defaults()},
                     project_location=str(PROJECT_ROOT) if IN_CLONE else None)
        if IN_CLONE:
            cfg.load_project()
        cfg.load_shell_env()
        settings = cls.from_mapping(dict(cfg.get("pglab", {})))
        return replace(settings, **overrides) if overrides else settings

    @property
    def parallel_jobs(self):
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)

    @cached_property
    def layout(self):
        from .layout import Layout

        # "" (the default) means the machine's build cache once settings are loaded
        # (from_mapping); Settings built by hand keep everything under their root
        return Layout(self.root, self.root if str(self.cache) in ("", ".") else self.cache)


def default_cache():
    """Where builds are cached for every clone on the machine."""
    if os.geteuid() == 0:
        return Path("/var/cache/pglab")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pglab"


def default_area(start=None):
    """The working area outside a clone: .pglab/ at the top of the git work tree START (default: the
    folder pglab runs in) is in, made with a .gitignore that keeps it out of the repository; else
    default_state()."""
    folder = Path(start or Path.cwd()).resolve()
    for top in (folder, *folder.parents):
        if (top / ".git").exists():
            area = top / ".pglab"
            if not area.is_dir():
                area.mkdir(mode=0o755)
                (area / ".gitignore").write_text("# pglab's working area (clusters, build copies, reports)\n*\n")
            return area
    return default_state()


def default_state():
    """The working area when pglab runs from an installed wheel: the user's own
    (/var/lib/pglab as root, else $XDG_STATE_HOME/pglab or ~/.local/state/pglab)."""
    if os.geteuid() == 0:
        return Path("/var/lib/pglab")
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "pglab"

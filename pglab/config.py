"""Project settings: the `pglab` section of invoke's configuration.

The defaults are declared here and nowhere else.  tasks.py hands them to invoke
(`ns.configure`), so invoke's own precedence applies on top: invoke.yaml (which
documents each key), then INVOKE_PGLAB_* environment variables, then flags.
Library callers and tests use `Settings.load()`, which reads the same files and
environment the same way.
"""

import os
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    version: str = "16"                 # build-pg's default major (the curriculum's)
    flavour: str = "debug"              # debug (-O0 -g3, cassert) or opt (-O2 -g)
    root: Path = Path("pg_source")      # the working area, relative to the project
    cache: Path = Path("")              # the build cache: "" = /var/cache/pglab as root, else ~/.cache/pglab
    jobs: int = 0                       # parallel make jobs; 0 = one per core
    memo_hours: float = 6.0             # how long an unreachable network channel is remembered
    git_url: str = "https://git.postgresql.org/git/postgresql.git"
    tarball_url: str = "https://ftp.postgresql.org/pub/source"
    account: str = ""                   # the account servers run as under root; "" = postgres, else pglab
    test_majors: str = "13,14,15,16,17,18,19"   # `invoke test` builds each one it can obtain
    ext_idle_timeout: float = 300.0     # ext-test: seconds without a finished test before a suite is hung

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
            if value is None:
                continue
            values[key] = Path(os.path.expanduser(str(value))) if kind is Path else kind(value)
        settings = cls(**values)
        if not settings.root.is_absolute():
            settings = replace(settings, root=PROJECT_ROOT / settings.root)
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
                     project_location=str(PROJECT_ROOT))
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

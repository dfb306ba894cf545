"""Project settings: invoke.yaml's `pglab` section, in invoke's own precedence.

Tasks hand `c.config.pglab` to `Settings.from_mapping`; tests and library callers
use `Settings.load()`, which reads the same files and environment the same way.
"""

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    version: str = "16"
    flavour: str = "debug"
    root: Path = PROJECT_ROOT / "pg_source"
    jobs: int = 0
    memo_hours: float = 6.0
    git_url: str = "https://git.postgresql.org/git/postgresql.git"
    tarball_url: str = "https://ftp.postgresql.org/pub/source"
    account: str = ""
    test_majors: str = "13,14,15,16,17,18,19"

    @classmethod
    def from_mapping(cls, mapping):
        known = {f.name for f in fields(cls)}
        values = {k: mapping[k] for k in known if k in mapping and mapping[k] is not None}
        if "root" in values:
            root = Path(os.path.expanduser(str(values["root"])))
            values["root"] = root if root.is_absolute() else PROJECT_ROOT / root
        if "jobs" in values:
            values["jobs"] = int(values["jobs"])
        if "memo_hours" in values:
            values["memo_hours"] = float(values["memo_hours"])
        values = {k: str(v) if k == "version" else v for k, v in values.items()}
        return cls(**values)

    @classmethod
    def load(cls, **overrides):
        """Settings as `invoke` would see them in this project (yaml, then env)."""
        from invoke import Config

        cfg = Config(project_location=str(PROJECT_ROOT))
        cfg.load_project()
        cfg.load_shell_env()
        settings = cls.from_mapping(dict(cfg.get("pglab", {})))
        return replace(settings, **overrides) if overrides else settings

    @property
    def parallel_jobs(self):
        return self.jobs if self.jobs > 0 else (os.cpu_count() or 1)

    # The layout of the working area; nothing else computes these paths.
    @property
    def downloads(self):
        return self.root / "downloads"

    @property
    def sources(self):
        return self.root / "src"

    @property
    def builds(self):
        return self.root / "builds"

    @property
    def installs(self):
        return self.root / "install"

    @property
    def clusters(self):
        return self.root / "clusters"

    @property
    def apt_state(self):
        return self.root / "apt"

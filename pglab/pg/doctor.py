"""The toolchain check: what building, testing and tracing PostgreSQL needs.

`check()` looks, `ensure()` installs what is missing from Debian's packages when
run as root (or prints the exact command otherwise).  build-pg calls ensure()
first, so a fresh machine gets what it needs without a separate step.
"""

import os
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .. import ui
from ..errors import ToolchainError


@dataclass(frozen=True)
class Need:
    name: str
    package: str       # the Debian package that provides it
    required: bool     # build-pg cannot work without it
    why: str

    def present(self):
        return _PROBES[self.name]()


def _which(cmd):
    return lambda: shutil.which(cmd) is not None


def _header(path):
    return lambda: Path(path).exists()


def _pkgconfig(module):
    def probe():
        return shutil.which("pkg-config") is not None and subprocess.run(
            ["pkg-config", "--exists", module], capture_output=True).returncode == 0
    return probe


def _keyring_present():
    from .sources.debian import KEYRINGS    # here: the Debian channel's imports are not doctor's to pay

    return any(k.is_file() for k in KEYRINGS)


def _perl_module(module):
    return lambda: shutil.which("perl") is not None and subprocess.run(
        ["perl", f"-M{module}", "-e1"], capture_output=True).returncode == 0


NEEDS = (
    Need("gcc", "gcc", True, "compiles PostgreSQL and extensions"),
    Need("make", "make", True, "drives configure/make and PGXS"),
    Need("bison", "bison", True, "generates the SQL parser (tarballs no longer ship it)"),
    Need("flex", "flex", True, "generates the scanner"),
    Need("pkg-config", "pkg-config", True, "lets configure find ICU"),
    Need("readline", "libreadline-dev", True, "line editing in psql"),
    Need("zlib", "zlib1g-dev", True, "compression for pg_dump and base backups"),
    Need("ICU", "libicu-dev", True, "ICU collations (on by default from 16)"),
    Need("patch", "patch", True, "applies --patch files"),
    Need("perl", "perl", True, "PostgreSQL's build scripts"),
    Need("gdb", "gdb", False, "`invoke trace` and crash backtraces"),
    Need("ccache", "ccache", False, "faster rebuilds"),
    Need("dtrace", "systemtap-sdt-dev", False, "--enable-dtrace (USDT probes)"),
    Need("IPC::Run", "libipc-run-perl", False, "--enable-tap-tests: TAP suites of PostgreSQL and extensions"),
    Need("lz4", "liblz4-dev", False, "--with-lz4: LZ4 TOAST compression (14+)"),
    Need("zstd", "libzstd-dev", False, "--with-zstd: zstd WAL and backup compression (15+)"),
    Need("openssl", "libssl-dev", False, "--with-openssl: SSL, pgcrypto"),
    Need("libxml", "libxml2-dev", False, "--with-libxml: the xml type"),
    Need("libxslt", "libxslt1-dev", False, "--with-libxslt: xml2's XSLT"),
    Need("uuid", "uuid-dev", False, "--with-uuid=e2fs: uuid-ossp"),
    Need("tmux", "tmux", False, "debug: psql and gdb side by side"),
    Need("Python.h", "python3-dev", False, "inspect: cffi compiles page layouts against a build's headers"),
    Need("rsvg-convert", "librsvg2-bin", False, "SVG pictures (trace --format svg) to PNG, as the tests look at them"),
    Need("debian-keyring", "debian-keyring", False,
         "checks the uploader's signature on a .dsc Debian's index no longer lists (an earlier point release)"),
)

_PROBES = {
    "gcc": _which("gcc"), "make": _which("make"), "bison": _which("bison"), "flex": _which("flex"),
    "pkg-config": _which("pkg-config"), "readline": _header("/usr/include/readline/readline.h"),
    "zlib": _header("/usr/include/zlib.h"), "ICU": _pkgconfig("icu-uc"), "patch": _which("patch"),
    "perl": _which("perl"), "gdb": _which("gdb"), "ccache": _which("ccache"), "dtrace": _which("dtrace"),
    "IPC::Run": _perl_module("IPC::Run"), "lz4": _pkgconfig("liblz4"), "zstd": _pkgconfig("libzstd"),
    "openssl": _pkgconfig("openssl"), "libxml": _pkgconfig("libxml-2.0"), "libxslt": _pkgconfig("libxslt"),
    "uuid": _pkgconfig("uuid"),
    "tmux": _which("tmux"), "rsvg-convert": _which("rsvg-convert"),
    "Python.h": lambda: (Path(sysconfig.get_paths()["include"]) / "Python.h").exists(),
    "debian-keyring": _keyring_present,
}


def check():
    """[(Need, present)] for every need."""
    return [(need, need.present()) for need in NEEDS]


def install_command(packages):
    return ["apt-get", "install", "-y", "--no-install-recommends", *packages]


def ensure(*, quiet=False, install=True):
    """Make sure the toolchain is there; install what is missing when root.

    Returns the final check.  Raises ToolchainError when something required is
    still missing, with the command that installs it."""
    results = check()
    missing = [need for need, ok in results if not ok]
    if not quiet or missing:
        ui.table("toolchain", ["need", "status", "Debian package", "for"],
                 [(n.name, "ok" if ok else ("MISSING" if n.required else "missing (optional)"), n.package, n.why)
                  for n, ok in results])
    if not missing:
        return results
    packages = sorted({need.package for need in missing})
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        with ui.phase(f"apt-get install {' '.join(packages)}"):
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True)
            done = subprocess.run(install_command(packages), env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["apt-get failed"]
            raise ToolchainError(f"could not install {' '.join(packages)}: {tail[0]}")
        results = check()
        missing = [need for need, ok in results if not ok]
    required = [n for n in missing if n.required]
    command = "sudo " + " ".join(install_command(sorted({n.package for n in missing})))
    if required:
        raise ToolchainError(f"missing {', '.join(n.name for n in required)}: run `{command}`")
    if missing:
        ui.warn(f"optional tools missing ({', '.join(n.name for n in missing)}); to add them: {command}")
    return results


def has(name, results=None):
    results = results if results is not None else check()
    return any(need.name == name and ok for need, ok in results)

"""configure's kept results: the key, and reuse around a stand-in configure script
(the real one runs in test_build_pg and test_channels)."""

import os
from types import SimpleNamespace

import pytest

from pglab.layout import Layout
from pglab.pg import build as build_mod
from pglab.pg.build import configure_cache_key

_SCRIPT = """#!/bin/sh
# stand-in for autoconf's configure: reads and extends its --cache-file
      ac_precious_vars='build_alias
CC
CFLAGS
LDFLAGS
ZSTD_LIBS'
cache_file=/dev/null
. "$CONFIG_SITE"
cache=$cache_file
if [ -s "$cache" ]; then
  echo "configure: loading cache $cache"
  grep -q stale "$cache" && { echo "configure: error: changes in the environment"; exit 1; }
  echo loaded >> "$(dirname "$cache")/runs"
else
  echo "configure: creating cache $cache"
  echo fresh >> "$(dirname "$cache")/runs"
fi
echo "ac_cv_prog_cc=yes" > "$cache"
echo "$@" > "$(dirname "$cache")/args"
[ -n "$user_site_read" ] && echo "user site read" >> "$(dirname "$cache")/runs"
exit 0
"""


@pytest.fixture
def configure(tmp_path):
    script = tmp_path / "src" / "configure"
    script.parent.mkdir()
    script.write_text(_SCRIPT)
    script.chmod(0o755)
    return script


def test_key_follows_script_flags_and_the_variables_configure_reads(configure):
    env = {"PATH": "/usr/bin", "HOME": "/root", "LDFLAGS": ""}
    key = configure_cache_key(configure, ["--enable-debug"], "-O0", "gcc", env)
    assert key == configure_cache_key(configure, ["--enable-debug"], "-O0", "gcc", dict(env, HOME="/home/x"))
    changed = [
        configure_cache_key(configure, ["--enable-debug", "--with-zstd"], "-O0", "gcc", env),
        configure_cache_key(configure, ["--enable-debug"], "-O2", "gcc", env),
        configure_cache_key(configure, ["--enable-debug"], "-O0", "ccache gcc", env),
        configure_cache_key(configure, ["--enable-debug"], "-O0", "gcc", dict(env, LDFLAGS="-L/opt/lib")),
        configure_cache_key(configure, ["--enable-debug"], "-O0", "gcc", dict(env, ZSTD_LIBS="-lzstd")),
        configure_cache_key(configure, ["--enable-debug"], "-O0", "gcc", dict(env, PATH="/opt/bin:/usr/bin")),
    ]
    configure.write_text(_SCRIPT + "# a newer release\n")
    changed.append(configure_cache_key(configure, ["--enable-debug"], "-O0", "gcc", env))
    assert len({key, *changed}) == 8


def _settings(tmp_path):
    return SimpleNamespace(layout=Layout(tmp_path / "work", tmp_path / "cache"))


def _configure_in(settings, builddir, configure):
    (builddir / "logs").mkdir(parents=True, exist_ok=True)
    build_mod._configure(settings, builddir, configure.parent, "/prefix", ["--enable-debug"], "-O0")
    return (builddir / "runs").read_text().split()


def test_second_build_starts_from_the_kept_results_and_a_stale_copy_is_dropped(tmp_path, configure, capsys):
    settings = _settings(tmp_path)
    assert _configure_in(settings, tmp_path / "b1", configure) == ["fresh"]
    kept = list((tmp_path / "cache" / "configure").iterdir())
    assert [p.read_text() for p in kept] == ["ac_cv_prog_cc=yes\n"]
    assert _configure_in(settings, tmp_path / "b2", configure) == ["loaded"]
    assert "▸ configure (results kept from an earlier build)" in capsys.readouterr().out

    kept[0].write_text("ac_cv_prog_cc=stale\n")   # what a changed system would make of it
    assert _configure_in(settings, tmp_path / "b3", configure) == ["fresh"]
    out = capsys.readouterr().out
    assert f"configure failed with the results kept in {kept[0]}; dropping them and running it from scratch" in out
    assert kept[0].read_text() == "ac_cv_prog_cc=yes\n"
    assert [p.name for p in kept[0].parent.iterdir()] == [kept[0].name]   # no staged copy left behind


def test_a_failing_configure_keeps_nothing(tmp_path, configure):
    configure.write_text("#!/bin/sh\necho 'configure: error: zstd library not found'\nexit 1\n")
    with pytest.raises(build_mod.BuildError, match="configure failed"):
        _configure_in(_settings(tmp_path), tmp_path / "b1", configure)
    assert not (tmp_path / "cache" / "configure").exists()
    assert os.path.exists(tmp_path / "b1" / "logs" / "configure.log")


def test_arguments_stay_as_they_were_and_a_users_site_script_is_still_read(tmp_path, configure, monkeypatch):
    """configure writes its arguments into pg_config.h: the cache goes in through a site script."""
    user_site = tmp_path / "my.site"
    user_site.write_text("user_site_read=yes\n")
    monkeypatch.setenv("CONFIG_SITE", str(user_site))
    monkeypatch.setattr(build_mod.shutil, "which", lambda name: None)   # no ccache
    assert _configure_in(_settings(tmp_path), tmp_path / "b1", configure) == ["fresh", "user", "site", "read"]
    assert (tmp_path / "b1" / "args").read_text().split() == [
        "--prefix=/prefix", "--enable-debug", "CFLAGS=-O0", "CC=gcc"]

"""Telling a user where to run gdb: as themselves for their own backend, as root for another account's."""

import os

import pytest

from pglab import procs


@pytest.mark.parametrize("me, owner, expected", [
    (1000, 1000, ("In a second terminal, run:", "")),
    (0, 0, ("In a second terminal, run:", "")),
    (0, 108, ("In a second terminal, as root, run:", "")),
    (1000, 108, ("In a second terminal, as root (gdb may attach to another account's process only as root), run:",
                 "sudo ")),
])
def test_attach_instructions_name_root_only_when_it_is_needed(monkeypatch, me, owner, expected):
    monkeypatch.setattr(os, "geteuid", lambda: me)
    monkeypatch.setattr(procs, "owner_uid", lambda pid: owner)
    assert procs.attach_instructions(4242) == expected


def test_owner_uid_reads_the_real_uid_from_proc():
    assert procs.owner_uid(os.getpid()) == os.getuid()
    assert procs.owner_uid(2**22 + 7) is None       # above pid_max: no such process

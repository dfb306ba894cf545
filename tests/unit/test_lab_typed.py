"""A lab's commands, text and hints as the learner types them where they are (show.typed): the labs
are written for a clone (`invoke TASK`, the working area pg_source/)."""

from pathlib import Path

import pytest

from pglab.lab import show

HINT = ('preload pg_stat_statements, then save the trace (`invoke trace hooks --format json --out '
        'pg_source/labs/hooks.jsonl`); invoke\npsql -c "SELECT 1" and ./pg_source/dist/x.zip; my_pg_source/x stays')


@pytest.fixture
def where(monkeypatch, tmp_path):
    def at(via, area, cwd):
        monkeypatch.delenv("PGLAB_VIA", raising=False)
        if via:
            monkeypatch.setenv("PGLAB_VIA", via)
        monkeypatch.setenv("INVOKE_PGLAB_ROOT", str(area))
        monkeypatch.chdir(cwd)
        show._area_shown.cache_clear()
        return show.typed(HINT)
    yield at
    show._area_shown.cache_clear()


def test_a_clone_with_its_own_area_reads_as_written(where):
    from pglab.config import PROJECT_ROOT

    assert where(None, PROJECT_ROOT / "pg_source", PROJECT_ROOT) == HINT


def test_the_lab_script_and_an_area_inside_the_folder(where, tmp_path):
    assert where("./lab", tmp_path / ".pglab", tmp_path) == (
        'preload pg_stat_statements, then save the trace (`./lab trace hooks --format json --out '
        '.pglab/labs/hooks.jsonl`); ./lab\npsql -c "SELECT 1" and ./.pglab/dist/x.zip; my_pg_source/x stays')


def test_the_pglab_command_and_an_area_elsewhere(where, tmp_path):
    (tmp_path / "here").mkdir()
    assert where("pglab", Path("/var/lib/pglab"), tmp_path / "here") == (
        'preload pg_stat_statements, then save the trace (`pglab trace hooks --format json --out '
        '/var/lib/pglab/labs/hooks.jsonl`); pglab\npsql -c "SELECT 1" and /var/lib/pglab/dist/x.zip; '
        'my_pg_source/x stays')

"""debug --vscode's files: merged into what the repository has, never clobbered."""

import json
from types import SimpleNamespace

import pytest

from pglab.debug import Plan, vscode
from pglab.errors import DebugError


def _plan():
    return Plan(build_id="17.11-debug", gdb="/usr/bin/gdb", postgres="/pg/bin/postgres", source_dir="/pg/src",
                build_dir="/pg/build", loader="/pglab/tracing/loader.py", error_level=21)


@pytest.fixture
def repo(tmp_path):
    top = tmp_path / "my ext"
    (top / ".git").mkdir(parents=True)
    (top / "sub").mkdir()
    settings = SimpleNamespace(layout=SimpleNamespace(debug_sessions=tmp_path / "area" / "debug"))
    build = SimpleNamespace(id="17.11-debug")
    return top, lambda start=top: vscode.write(settings, build, _plan(), start=start)


def test_written_at_the_repositorys_top_from_a_subfolder(repo):
    top, write = repo
    launch, tasks, setup = write(top / "sub")
    assert (launch, tasks) == (top / ".vscode" / "launch.json", top / ".vscode" / "tasks.json")
    [conf] = json.loads(launch.read_text())["configurations"]
    assert conf["name"] == "pglab: attach to a backend (17.11-debug)"
    assert (conf["request"], conf["MIMode"], conf["miDebuggerPath"], conf["program"]) == \
        ("attach", "gdb", "/usr/bin/gdb", "/pg/bin/postgres")
    assert conf["setupCommands"][1]["text"] == f"source {setup}"
    script = setup.read_text()
    assert "directory \"/pg/src\"\n" in script and "source /pglab/tracing/loader.py\n" in script
    assert "continue" not in script.split()         # VS Code resumes the process itself
    [task] = json.loads(tasks.read_text())["tasks"]
    assert (task["label"], task["command"].split()[-2:]) == ("pglab ext-test", ["ext-test", "."])


def test_the_users_configurations_and_comments_survive_and_ours_is_replaced_not_repeated(repo):
    top, write = repo
    (top / ".vscode").mkdir()
    (top / ".vscode" / "launch.json").write_text(
        '{\n  // my debugging\n  "version": "0.2.0",\n  /* two of mine */\n  "configurations": [\n'
        '    {"name": "mine // not a comment", "type": "cppdbg", "request": "launch", "program": "/bin/true",},\n'
        '    {"name": "pglab: attach to a backend (17.11-debug)", "type": "stale"},\n  ],\n}\n')
    write()
    first = (top / ".vscode" / "launch.json").read_text()
    names = [c["name"] for c in json.loads(first)["configurations"]]
    assert names == ["mine // not a comment", "pglab: attach to a backend (17.11-debug)"]
    assert json.loads(first)["configurations"][1]["type"] == "cppdbg"
    write()
    assert (top / ".vscode" / "launch.json").read_text() == first


def test_an_unreadable_file_is_refused_and_nothing_is_written(repo):
    top, write = repo
    (top / ".vscode").mkdir()
    (top / ".vscode" / "tasks.json").write_text('{"version": "2.0.0", "tasks": [ {"label": "x" ]}')
    with pytest.raises(DebugError, match=r"^cannot read .*tasks\.json \(.*\): fix it or move it aside; "
                                         r"nothing was written$"):
        write()
    assert sorted(p.name for p in (top / ".vscode").iterdir()) == ["tasks.json"]
    (top / ".vscode" / "tasks.json").write_text("[1, 2]")
    with pytest.raises(DebugError, match=r"tasks\.json is not a JSON object"):
        write()
    assert sorted(p.name for p in (top / ".vscode").iterdir()) == ["tasks.json"]


def test_strip_jsonc_keeps_strings_whole():
    text = '{"a": "http://x/*y*/", /* c */ "b": [1, 2,], // end\n "c": "q\\"//"}'
    assert json.loads(vscode.strip_jsonc(text)) == {"a": "http://x/*y*/", "b": [1, 2], "c": 'q"//'}

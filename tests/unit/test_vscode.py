"""debug --vscode's files: merged into what the repository has, never clobbered."""

import json
from types import SimpleNamespace

import pytest

from pglab import vscode
from pglab.debug import Plan
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


# VS Code's launch.json as its C/C++ debugger reads an attach configuration: the options of cppdbg's
# attach request that pglab uses, with their types (the extension's own options schema), VS Code's
# own fields of any configuration, and nothing else; tasks.json's shell task.
_SETUP_COMMAND = {"type": "object", "additionalProperties": False,
                  "properties": {"text": {"type": "string"}, "description": {"type": "string"},
                                 "ignoreFailures": {"type": "boolean"}}}
LAUNCH = {
    "type": "object", "required": ["version", "configurations"],
    "properties": {"version": {"const": "0.2.0"},
                   "configurations": {"type": "array", "items": {
                       "type": "object", "required": ["name", "type", "request", "program"],
                       "additionalProperties": False,
                       "properties": {
                           "name": {"type": "string", "minLength": 1}, "type": {"const": "cppdbg"},
                           "request": {"const": "attach"}, "program": {"type": "string"},
                           "processId": {"anyOf": [{"type": "string", "pattern": r"^\$\{command:pickProcess\}$"},
                                                   {"type": "integer"}]},
                           "MIMode": {"enum": ["gdb"]}, "miDebuggerPath": {"type": "string"},
                           "setupCommands": {"type": "array", "items": _SETUP_COMMAND},
                           "sourceFileMap": {"type": "object", "additionalProperties": {"type": "string"}}}}}}}
TASKS = {
    "type": "object", "required": ["version", "tasks"],
    "properties": {"version": {"const": "2.0.0"},
                   "tasks": {"type": "array", "items": {
                       "type": "object", "required": ["label", "type", "command"],
                       "properties": {"label": {"type": "string"}, "type": {"enum": ["shell", "process"]},
                                      "command": {"type": "string"}, "group": {"type": ["string", "object"]},
                                      "problemMatcher": {"type": ["string", "array"]},
                                      "options": {"type": "object"}}}}}}


def test_the_files_are_what_vscodes_cpp_debugger_reads(repo):
    import jsonschema

    top, write = repo
    launch, tasks, setup = write()
    jsonschema.validate(json.loads(launch.read_text()), LAUNCH)
    jsonschema.validate(json.loads(tasks.read_text()), TASKS)
    [conf] = json.loads(launch.read_text())["configurations"]
    assert [c["text"] for c in conf["setupCommands"]] == ["-enable-pretty-printing", f"source {setup}"]
    with pytest.raises(jsonschema.ValidationError, match="'gdb-multiarch' is not one of"):
        jsonschema.validate({"version": "0.2.0", "configurations": [{**conf, "MIMode": "gdb-multiarch"}]}, LAUNCH)

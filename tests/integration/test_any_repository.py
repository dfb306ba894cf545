"""pglab in an extension's own repository: the `pglab` command of an installed wheel, run
in a git checkout of an extension that is not pglab's (an example, and a published one
from Debian's archive), and the GitHub Action (action.yml) run step by step, as GitHub
would, on this machine.  Nothing is written into the extension's folder but pglab's own
.pglab/, which git ignores."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from pglab.config import PROJECT_ROOT
from pglab.ext import published

from tests.conftest import invoke

from .conftest import from_wheel

EXAMPLE = PROJECT_ROOT / "extensions" / "pgl_funcs"
_GIT = {"GIT_AUTHOR_NAME": "pglab test", "GIT_AUTHOR_EMAIL": "test@pglab.invalid",
        "GIT_COMMITTER_NAME": "pglab test", "GIT_COMMITTER_EMAIL": "test@pglab.invalid"}


def _repository(source, parent):
    """A git checkout holding SOURCE's files at its top, as an extension's own repository is."""
    repo = Path(tempfile.mkdtemp(prefix="ext-repo-", dir=parent))
    shutil.copytree(source, repo, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.o", "*.so", "results"))
    repo.chmod(0o755)
    env = {**os.environ, **_GIT}
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the extension"]):
        subprocess.run(["git", *argv], cwd=repo, check=True, capture_output=True, env=env)
    return repo


def _renamed(source, parent, name):
    """SOURCE's extension under another NAME (files and their text): an extension of its own in the
    build, which no other test installs over while this one reads its library."""
    copy = Path(tempfile.mkdtemp(prefix="renamed-", dir=parent)) / name
    old = source.name
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.o", "*.so", "results", "__pycache__"))
    for path in sorted(copy.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file():
            path.write_text(path.read_text().replace(old, name))
        if old in path.name:
            path.rename(path.with_name(path.name.replace(old, name)))
    return copy


def _digest(repo):
    """Every file of the checkout but git's own and pglab's .pglab/."""
    h = hashlib.sha256()
    files = []
    for dirpath, dirnames, filenames in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d not in (".git", ".pglab")]    # pglab's servers work in .pglab
        files += [Path(dirpath) / f for f in filenames]
    for path in sorted(files):
        h.update(str(path.relative_to(repo)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _rows(stdout):
    """ext-test's table as the user compares it: every row but its time, and the server row's
    detail (a server started, or a warm one reused)."""
    rows = [[c.strip() for c in line.strip("│").split("│")] for line in stdout.splitlines() if line.startswith("│ ")]
    return [r[:5] + ([] if r[2] == "server" else r[6:]) for r in rows]


def _clean(repo):
    return subprocess.run(["git", "status", "--porcelain", "--ignored=no"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout


@pytest.fixture(scope="module")
def repos(wheel_venv):
    """A folder for the test's repositories, which the servers' account can reach; their servers
    stopped and the folder removed at the end."""
    parent = Path(tempfile.mkdtemp(prefix="pglab-repos-"))
    parent.chmod(0o755)
    yield parent
    for area in parent.glob("*/.pglab"):
        from_wheel(wheel_venv, "pglab", "pg-stop", "--all", cwd=area.parent)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.parametrize("which", ["example", "published"])
def test_pglab_in_an_extensions_own_repository(wheel_venv, repos, settings, default_build, which):
    parent = repos
    if which == "example":
        source = EXAMPLE
    else:
        [ext] = published.resolve(settings, "debian:hypopg")
        source = ext.path
    repo = _repository(source, parent)
    before = _digest(repo)
    other = next(b for b in ("15", "13", "18") if b != str(default_build.major))
    tested = from_wheel(wheel_venv, "pglab", "ext-test", ".", "--pg", default_build.id, cwd=repo, timeout=900)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr
    assert re.fullmatch(r"all \d+ suites passed \(\d+ tests?\)", tested.stdout.splitlines()[-1]), tested.stdout
    in_clone = invoke("ext-test", str(source), "--pg", default_build.id, timeout=900)   # pglab's clone, its area
    assert in_clone.returncode == 0, in_clone.stdout[-3000:]
    assert _rows(tested.stdout) == _rows(in_clone.stdout) and len(_rows(tested.stdout)) >= 4
    assert tested.stdout.splitlines()[-1] == in_clone.stdout.splitlines()[-1]
    matrix = from_wheel(wheel_venv, "pglab", "ci", "--ext", ".", "--pg", f"{default_build.major},{other}", cwd=repo,
                        timeout=1800)
    assert matrix.returncode == 0, matrix.stdout[-3000:] + matrix.stderr
    assert matrix.stdout.splitlines()[-1].startswith("every extension passed on every major it could be tested on; "
                                                     f"reports in {repo / '.pglab' / 'ci-results'}")
    assert (repo / ".pglab" / "ci-results" / "junit.xml").is_file()
    assert _digest(repo) == before and _clean(repo) == ""        # nothing written but .pglab/, which git ignores
    assert (repo / ".pglab" / ".gitignore").read_text().splitlines()[-1] == "*"


@pytest.mark.slow
def test_new_ext_in_a_repository_then_ext_test_it(wheel_venv, repos, default_build):
    parent = repos
    repo = Path(tempfile.mkdtemp(prefix="new-repo-", dir=parent))
    repo.chmod(0o755)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    made = from_wheel(wheel_venv, "pglab", "new-ext", "my_ext", cwd=repo)
    assert (made.returncode, made.stderr) == (0, ""), made.stdout
    assert made.stdout.splitlines()[-1] == (f"created {repo / 'extensions' / 'my_ext'} from the udf template; "
                                            f"next: pglab ext-test my_ext")
    tested = from_wheel(wheel_venv, "pglab", "ext-test", "my_ext", "--pg", default_build.id, cwd=repo, timeout=900)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr


# ---- the GitHub Action, step by step --------------------------------------------------------------

def _substitute(text, inputs, outputs):
    """GitHub's ${{ ... }} for what action.yml uses: inputs, steps' outputs."""
    def value(m):
        expr = m.group(1).strip()
        if expr.startswith("inputs."):
            return inputs[expr.split(".", 1)[1]]
        step, _, name = expr.removeprefix("steps.").partition(".outputs.")
        return outputs[step][name]
    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def _read_kv(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line) if path.exists() else {}


@pytest.mark.slow
def test_the_actions_steps_run_here_as_github_runs_them(repos, default_build, tmp_path):
    """action.yml's own steps, in order, with the inputs a workflow gives: each `run` step as
    GitHub runs it (bash -e, its env, working-directory, GITHUB_ENV/OUTPUT/STEP_SUMMARY files),
    each `uses` step's inputs checked (actions/cache's path exists; upload-artifact's holds the
    reports)."""
    parent = repos
    repo = _repository(EXAMPLE, parent)
    before = _digest(repo)
    action_path = Path(tempfile.mkdtemp(prefix="pglab-action-", dir=parent))
    subprocess.run(["git", "clone", "-q", str(PROJECT_ROOT), str(action_path / "pglab")], check=True)
    action = yaml.safe_load((action_path / "pglab" / "action.yml").read_text())
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    inputs.update(pg=str(default_build.major), werror="true")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    runner_temp.chmod(0o755)
    files = {name: tmp_path / name for name in ("env", "summary")}
    for f in files.values():
        f.touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INVOKE_PGLAB_", "PGLAB_", "VIRTUAL_ENV"))}
    env.update(GITHUB_ACTION_PATH=str(action_path / "pglab"), RUNNER_TEMP=str(runner_temp),
               GITHUB_ENV=str(files["env"]), GITHUB_STEP_SUMMARY=str(files["summary"]), GITHUB_WORKSPACE=str(repo))
    outputs, uploaded = {}, None
    for number, step in enumerate(action["runs"]["steps"]):
        if "uses" in step:
            given = {k: _substitute(str(v), inputs, outputs) for k, v in step.get("with", {}).items()}
            if step["uses"] == "actions/cache@v4":
                assert Path(given["path"]).is_dir() and given["key"].startswith(
                    f"pglab-pglab-{inputs['pg']}-{inputs['flavour']}-"), given
            else:
                assert step["uses"] == "actions/upload-artifact@v4" and step.get("if") == "always()"
                uploaded = Path(given["path"])
            continue
        out = tmp_path / f"output-{number}"
        out.touch()
        script = tmp_path / f"step-{number}.sh"
        script.write_text(_substitute(step["run"], inputs, outputs))
        step_env = {**env, **_read_kv(files["env"]), "GITHUB_OUTPUT": str(out),
                    **{k: _substitute(str(v), inputs, outputs) for k, v in step.get("env", {}).items()}}
        cwd = repo / _substitute(step.get("working-directory", "."), inputs, outputs)
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=cwd,
                              env=step_env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, (step.get("name"), done.stdout[-3000:], done.stderr[-3000:])
        if "id" in step:
            outputs[step["id"]] = _read_kv(out)
    assert uploaded == runner_temp / "pglab-ci"
    junit = ET.parse(uploaded / "junit.xml").getroot()
    assert [s.get("name") for s in junit.iter("testsuite")] == [f"pgl_funcs on {default_build.id}"]
    assert "## pglab ci" in files["summary"].read_text() and "pgl_funcs" in files["summary"].read_text()
    assert _digest(repo) == before and _clean(repo) == ""
    installed = json.loads(subprocess.run([str(runner_temp / "pglab-venv" / "bin" / "python"), "-c",
                                           "import json, pglab; print(json.dumps(pglab.__file__))"],
                                          capture_output=True, text=True, check=True, cwd=tmp_path).stdout)
    assert "site-packages" in installed          # the action installed pglab, not a clone's editable copy


# ---- debug --vscode ------------------------------------------------------------------------------

def _mi(gdb, commands, timeout=120):
    """COMMANDS sent to gdb's machine interface as VS Code's C/C++ debugger sends them (a command
    that is not MI goes through -interpreter-exec console); each answer's record and console text."""
    lines = [c if c.startswith("-") else "-interpreter-exec console " + json.dumps(c) for c in commands]
    done = subprocess.run([gdb, "--interpreter=mi2", "-nx", "-q"], input="\n".join(lines + ["-gdb-exit"]) + "\n",
                          capture_output=True, text=True, timeout=timeout)
    answers, console = [], []
    for line in done.stdout.splitlines():
        if line.startswith("~"):
            console.append(json.loads(line[1:]))
        elif line.startswith("^"):
            answers.append((line.split(",", 1)[0], "".join(console)))
            console = []
    return answers


@pytest.mark.slow
def test_debug_vscode_attaches_with_the_printers_and_maps_the_extension_to_the_repository(
        wheel_venv, repos, settings, default_build):
    from pglab.cluster import Cluster

    # pgl_funcs under a name of its own: other tests install pgl_funcs into the same build meanwhile
    repo = _repository(_renamed(EXAMPLE, repos, "pgl_vscode"), repos)
    (repo / ".vscode").mkdir()
    (repo / ".vscode" / "launch.json").write_text('{\n  // mine\n  "version": "0.2.0",\n  "configurations": [\n'
                                                 '    {"name": "my tests", "type": "cppdbg", "request": "launch",'
                                                 ' "program": "/bin/true"},\n  ]\n}\n')
    wrote = from_wheel(wheel_venv, "pglab", "debug", "--vscode", "--pg", default_build.id, cwd=repo)
    assert wrote.returncode == 0, wrote.stdout + wrote.stderr
    assert wrote.stdout.splitlines()[0] == f"wrote {repo}/.vscode/launch.json and {repo}/.vscode/tasks.json"
    mine, ours = json.loads((repo / ".vscode" / "launch.json").read_text())["configurations"]
    assert mine["name"] == "my tests" and ours["name"] == f"pglab: attach to a backend ({default_build.id})"
    [(builddir, mapped)] = ours["sourceFileMap"].items()
    assert mapped == str(repo)
    [task] = json.loads((repo / ".vscode" / "tasks.json").read_text())["tasks"]
    assert task["command"] == "pglab ext-test ."
    tested = from_wheel(wheel_venv, "pglab", "ext-test", ".", "--pg", default_build.id, cwd=repo, timeout=900)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr

    with Cluster.throwaway(settings, default_build) as cluster, cluster.connect() as conn:
        conn.execute("CREATE EXTENSION pgl_vscode")
        assert conn.execute("SELECT pgl_add(2, 3)").fetchone() == (5,)      # its library is loaded
        pid = conn.info.backend_pid
        answers = _mi(ours["miDebuggerPath"], [*(c["text"] for c in ours["setupCommands"]),
                                               f"-target-attach {pid}", "list pgl_add", "info source",
                                               "help pg-memctx", "-target-detach"])
        assert conn.execute("SELECT pgl_add(1, 1)").fetchone() == (2,)     # detached, the backend runs on
    records = [record for record, _ in answers]
    assert records == ["^done"] * 7 + ["^exit"], answers
    source = answers[4][1]
    assert f"Compilation directory is {builddir}\n" in source       # the map's key is where it was built
    assert f"Located in {repo}/pgl_vscode.c\n" in source           # and gdb opens the repository's file
    assert "pglab: the printers did not load" not in "".join(text for _, text in answers)
    assert answers[5][1].startswith("Print the memory context tree")

"""What `ext-meta` infers for META.json, and how it merges it in.

`infer(ext)` reads what a PGXS folder says about itself (its control files'
comment, default_version and requires; a LICENSE file; git's user and remote)
and `update(ext)` merges that into META.json without ever replacing a value the
author wrote; pgxn_spec validates the result.
"""

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ExtensionError
from .pgxn_spec import KEYS, META_SPEC, OLDEST_POSTGRES, URI_RE, show_value, type_name, version_key, load, \
    normalize_version, validate


# ---- what a PGXS folder says about itself ------------------------------------------------

def parse_control(text):
    """{key: value} of a .control file (PostgreSQL's syntax: key = 'value', # comments)."""
    values = {}
    for line in text.splitlines():
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line)
        if not m or line.lstrip().startswith("#"):
            continue
        key, rest = m.groups()
        if rest.startswith("'"):
            value, i = [], 1
            while i < len(rest):
                if rest[i] == "'" and rest[i + 1:i + 2] == "'":
                    value.append("'")
                    i += 2
                elif rest[i] == "'":
                    break
                else:
                    value.append(rest[i])
                    i += 1
            values[key] = "".join(value)
        else:
            values[key] = rest.split("#", 1)[0].strip()
    return values


def read_control(folder, name):
    path = Path(folder) / f"{name}.control"
    try:
        return parse_control(path.read_text())
    except OSError:
        raise ExtensionError(f"{path}: no such control file (the Makefile's EXTENSION names {name})") from None


# ---- inference --------------------------------------------------------------------------

_LICENSE_HINTS = (   # (license, all of these phrases), first match wins
    ("agpl_3", ("GNU AFFERO GENERAL PUBLIC LICENSE", "Version 3")),
    ("lgpl_3_0", ("GNU LESSER GENERAL PUBLIC LICENSE", "Version 3")),
    ("lgpl_2_1", ("GNU LESSER GENERAL PUBLIC LICENSE", "Version 2.1")),
    ("gpl_3", ("GNU GENERAL PUBLIC LICENSE", "Version 3")),
    ("gpl_2", ("GNU GENERAL PUBLIC LICENSE", "Version 2")),
    ("apache_2_0", ("Apache License", "Version 2.0")),
    ("postgresql", ("PostgreSQL License",)),
    ("postgresql", ("without a written agreement is hereby granted",)),
    ("mit", ("Permission is hereby granted, free of charge",)),
    ("bsd", ("Redistribution and use in source and binary forms",)),
)


def infer_license(folder):
    """(license, file it came from) from a LICENSE/COPYING file, or (None, None)."""
    for path in sorted(Path(folder).iterdir()):
        if path.is_file() and re.match(r"(LICEN[CS]E|COPYING)(\.(md|txt|rst))?$", path.name, re.I):
            text = " ".join(path.read_text(errors="replace").split())
            for license, phrases in _LICENSE_HINTS:
                if all(p.lower() in text.lower() for p in phrases):
                    return license, path.name
    return None, None


def _git(folder, *args):
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def infer_maintainer(folder):
    name, email = _git(folder, "config", "user.name"), _git(folder, "config", "user.email")
    if not name:
        return None
    return f"{name} <{email}>" if email else name


def infer_repository(folder):
    """resources.repository from git's `origin` remote, or None."""
    url = _git(folder, "remote", "get-url", "origin")
    if not url:
        return None
    scp = re.fullmatch(r"([^@/\s]+@)?([^:/\s]+):(?!//)(.+)", url)
    if scp:                                        # git@host:owner/repo.git
        url = f"https://{scp.group(2)}/{scp.group(3)}"
    if not URI_RE.fullmatch(url):
        return None
    repo = {"url": url, "type": "git"}
    if url.startswith("https://"):
        repo["web"] = url.removesuffix(".git")
    return repo


def _install_script(folder, name, version):
    """The script that creates `name` at `version` (provides.NAME.file), or None."""
    candidates = [str(p.relative_to(folder)) for pat in (f"{name}--*.sql", f"sql/{name}--*.sql")
                  for p in sorted(Path(folder).glob(pat))]
    base = {}
    for path in candidates:
        m = re.fullmatch(rf"{re.escape(name)}--(.+)\.sql", Path(path).name)
        if m and "--" not in m.group(1):
            base[path] = m.group(1)
    for path, v in base.items():
        if v == version:
            return path
    if base:
        return max(base, key=lambda p: version_key(base[p]))
    for path in (f"{name}.sql", f"sql/{name}.sql"):
        if (Path(folder) / path).is_file():
            return path
    return None


def _docfile(folder, name):
    for path in (f"doc/{name}.md", f"doc/{name}.mmd", "README.md", "README.rst", "README"):
        if (Path(folder) / path).is_file():
            return path
    return None


def extension_names(folder, main):
    """The extensions the folder provides: its control files (what EXTENSION lists)."""
    return [p.stem for p in sorted(Path(folder).glob("*.control"))] or [main]


def infer(ext):
    """(the META.json document the folder implies, {key: where its value came from, or why it is missing})."""
    folder = ext.path
    names = extension_names(folder, ext.name)
    main = ext.name if ext.name in names else names[0]
    notes, doc, provides, requires = {}, {}, {}, {}
    for name in names:
        control = read_control(folder, name)
        entry = {}
        default = control.get("default_version")
        if default:
            semver = normalize_version(default)
            if name == main:
                doc["version"] = semver
                notes["version"] = f"version {semver} from {name}.control's default_version '{default}'"
            entry["version"] = semver
        script = _install_script(folder, name, default)
        if script:
            entry["file"] = script
        else:
            notes[f"provides.{name}.file"] = (f"no install script ({name}--VERSION.sql) for {name}: "
                                              f"set provides.{name}.file")
        if control.get("comment"):
            entry["abstract"] = control["comment"]
            if name == main:
                doc["abstract"] = control["comment"]
        docfile = _docfile(folder, name)
        if docfile:
            entry["docfile"] = docfile
        provides[name] = {k: entry[k] for k in ("file", "docfile", "version", "abstract") if k in entry}
        for req in (r.strip() for r in control.get("requires", "").split(",")):
            if req and req not in names:
                requires[req] = 0
    doc["name"] = main
    maintainer = infer_maintainer(folder)
    if maintainer:
        doc["maintainer"] = maintainer
        notes["maintainer"] = f"maintainer {maintainer} from git's user.name and user.email"
    else:
        notes["maintainer"] = "no maintainer known (git's user.name is not set): add \"maintainer\": \"NAME <EMAIL>\""
    license, source = infer_license(folder)
    if license:
        doc["license"] = license
        notes["license"] = f"license {license} from {source}"
    else:
        notes["license"] = "no LICENSE file to read the license from: add \"license\" (postgresql, mit, ...)"
    doc["provides"] = provides
    doc["prereqs"] = {"runtime": {"requires": {"PostgreSQL": OLDEST_POSTGRES, **requires}}}
    notes["prereqs"] = (f"prereqs: PostgreSQL {OLDEST_POSTGRES} or later (the oldest major pglab builds; raise it "
                        f"if yours needs a newer one)" + (f", and {', '.join(requires)} from the control file's "
                                                          f"requires" if requires else ""))
    repository = infer_repository(folder)
    if repository:
        doc["resources"] = {"repository": repository}
    doc["generated_by"] = "pglab ext-meta"
    doc["meta-spec"] = dict(META_SPEC)
    return {k: doc[k] for k in KEYS if k in doc}, notes


# ---- update ----------------------------------------------------------------------------

@dataclass
class MetaUpdate:
    path: Path
    written: bool = False
    created: bool = False
    added: list = field(default_factory=list)      # dotted paths ext-meta filled in
    kept: list = field(default_factory=list)       # the author's top-level keys, left as written
    notes: list = field(default_factory=list)      # where inferred values came from; disagreements
    problems: list = field(default_factory=list)   # what still breaks the spec afterwards


# objects ext-meta fills in key by key; any other value the author wrote is kept whole
_MERGED = re.compile(r"provides(\.[^.]+)?|meta-spec")


def _merge(mine, inferred, prefix, added):
    for key, value in inferred.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in mine:
            mine[key] = value
            added.append(dotted)
        elif isinstance(mine[key], dict) and isinstance(value, dict) and _MERGED.fullmatch(dotted):
            _merge(mine[key], value, dotted, added)


def dump(doc):
    return json.dumps(doc, indent=3, ensure_ascii=False) + "\n"


def update(ext):
    """Write or complete ext's META.json from what its folder says (never replacing
    a value the author wrote); returns a MetaUpdate."""
    path = ext.path / "META.json"
    result = MetaUpdate(path)
    inferred, notes = infer(ext)
    if path.exists():
        doc, problems = load(path)
        if doc is None or not isinstance(doc, dict):
            why = problems[0].message if problems else f"it holds {type_name(doc)}"
            raise ExtensionError(f"{path} is not a JSON object ({why}); ext-meta never rewrites what it cannot "
                                 f"read: fix it, or move it away to have it written afresh")
        result.kept = list(doc)
    else:
        doc, result.created = {}, True
    _merge(doc, inferred, "", result.added)
    # where each added value came from, what is still missing, and where a kept value disagrees
    result.notes = [note for key, note in notes.items() if key in result.added or _missing(doc, key)]
    result.notes += _disagreements(ext, doc, inferred, result.added)
    if result.added:
        tmp = path.with_name(".META.json.pglab-tmp")
        tmp.write_text(dump(doc))
        tmp.replace(path)
        result.written = True
    result.problems = validate(doc)
    return result


def _missing(doc, dotted):
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            return True
        doc = doc[part]
    return False


def _disagreements(ext, doc, inferred, added):
    notes = []
    if "version" not in added and "version" in inferred and doc.get("version") != inferred["version"]:
        notes.append(f"kept version {show_value(doc.get('version'))} as written, but {ext.name}.control's "
                     f"default_version makes it {inferred['version']}: ext-bundle refuses the mismatch")
    for name, entry in inferred.get("provides", {}).items():
        mine = doc.get("provides", {}).get(name) if isinstance(doc.get("provides"), dict) else None
        if isinstance(mine, dict) and f"provides.{name}.version" not in added and "version" in entry \
                and mine.get("version") != entry["version"]:
            notes.append(f"kept provides.{name}.version {show_value(mine.get('version'))} as written, but "
                         f"{name}.control's default_version makes it {entry['version']}")
    return notes


def version_mismatches(ext, doc):
    """How META.json's versions disagree with the control files (after semver
    normalization): [str], empty when they agree."""
    names = extension_names(ext.path, ext.name)
    main = ext.name if ext.name in names else names[0]
    found = []
    for name in names:
        default = read_control(ext.path, name).get("default_version")
        if not default:
            continue
        semver = normalize_version(default)
        if name == main and doc.get("version") != semver:
            found.append(f"META.json's version is {show_value(doc.get('version'))} but {name}.control's default_version "
                         f"is '{default}' ({semver})")
        entry = doc.get("provides", {}).get(name)
        if isinstance(entry, dict) and entry.get("version") != semver:
            found.append(f"provides.{name}.version is {show_value(entry.get('version'))} but {name}.control's "
                         f"default_version is '{default}' ({semver})")
    return found


def meta_path(what):
    """The META.json `ext-meta --check WHAT` means: a file, a folder's, or a named extension's."""
    from .discover import resolve

    path = Path(what).expanduser()
    if path.is_file():
        return path
    if path.is_dir():
        return path / "META.json"
    found = resolve(what)
    if len(found) != 1:
        raise ExtensionError(f"ext-meta --check takes one META.json, not {len(found)} extensions")
    return found[0].path / "META.json"


def update_all(what):
    """update() for each extension `what` names (as ext-test names them)."""
    from .discover import resolve

    return [update(ext) for ext in resolve(what)]


def shown(path):
    """A path as printed: relative to the current directory when below it."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def describe(result):
    """What ext-meta prints about one update."""
    state = "written" if result.created else "updated" if result.written else "already complete, not rewritten"
    lines = [f"{shown(result.path)}: {state}"]
    if result.added:
        lines.append(f"  added: {', '.join(result.added)}")
    if result.kept:
        lines.append(f"  kept as written: {', '.join(result.kept)}")
    lines += [f"  · {note}" for note in result.notes]
    lines += [f"  ✗ {problem}" for problem in result.problems]
    if not result.problems:
        lines.append("  valid (PGXN Meta Spec 1.0.0)")
    return lines

"""The PGXN Meta Spec 1.0.0, as code: `validate(doc)` returns every problem of a
META.json document, each named by its JSON path (`$.provides.pgl_funcs.file:
required`); `normalize_version` turns an extension version into a semantic one.

PGXN accepts distributions described by the PGXN Meta Spec 1.0.0.  Its published
JSON Schemas use regex classes (`\\p{Space}`, `\\p{Cntrl}`) that Python's `re`
rejects, and no validator of them is packaged for Python, so the rules they state
are written out here as plain code.
"""

import json
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

from ..errors import ExtensionError

META_SPEC = {"version": "1.0.0", "url": "https://pgxn.org/meta/spec.txt"}
SPEC_URLS = ("https://pgxn.org/meta/spec.txt", "http://pgxn.org/meta/spec.txt")
OLDEST_POSTGRES = "13.0.0"      # the oldest major pglab builds: what an inferred prereq claims

LICENSES = ("agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd", "freebsd", "gfdl_1_2",
            "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1", "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1",
            "openssl", "perl_5", "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source", "restricted",
            "unrestricted", "unknown")
PHASES = ("configure", "build", "test", "runtime", "develop")
RELATIONSHIPS = ("requires", "recommends", "suggests", "conflicts")
RELEASE_STATUSES = ("stable", "testing", "unstable")
REQUIRED = ("name", "version", "abstract", "maintainer", "license", "provides", "meta-spec")
# the distribution's keys in the order ext-meta writes them
KEYS = ("name", "abstract", "description", "version", "maintainer", "license", "provides", "prereqs",
        "resources", "tags", "no_index", "release_status", "generated_by", "meta-spec")

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)"
_SEMVER = (rf"{_NUM}\.{_NUM}\.{_NUM}(?:-{_PRE_ID}(?:\.{_PRE_ID})*)?"
           r"(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?")
_WS = r"[ \t\n\r\f\v]*"
_OP = rf"(?:(?:[=!]=|[<>]=?){_WS})"
SEMVER_RE = re.compile(_SEMVER)
# a version, or 0 (any), with operators, AND-ed with commas; 0 only in first place, as the schema has it
RANGE_RE = re.compile(rf"{_OP}?(?:{_SEMVER}|0)(?:,{_WS}{_OP}?{_SEMVER})*")
_CUSTOM_RE = re.compile(r"[xX]_.")
URI_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s]+")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
_LOWER_RE = re.compile(r"[a-z]+")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


class Problem(NamedTuple):
    path: str
    message: str

    def __str__(self):
        return f"{self.path}: {self.message}"


# ---- validation ----------------------------------------------------------------------------

def load(path):
    """(document, [Problem]) for a META.json file; a file that is not JSON is one problem at `$`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExtensionError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ExtensionError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return loads(text)


def loads(text):
    twice = []

    def pairs(items):
        seen = {}
        for key, value in items:
            if key in seen:
                twice.append(key)
            seen[key] = value
        return seen

    try:
        doc = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return None, [Problem("$", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]
    problems = [Problem("$", f"key \"{key}\" is given twice (the last one counts)") for key in twice]
    return doc, problems + validate(doc)


def validate(doc):
    """Every way `doc` breaks PGXN Meta Spec 1.0.0, as [Problem] (empty: valid)."""
    out = []
    if not _is(doc, dict, "$", out):
        return out
    for key in REQUIRED:
        if key not in doc:
            out.append(Problem(_child("$", key), "required"))
    checks = {"name": _term, "version": _version, "abstract": _text, "description": _text,
              "generated_by": _text, "maintainer": _maintainer, "license": _license, "provides": _provides,
              "meta-spec": _meta_spec, "prereqs": _prereqs, "resources": _resources, "tags": _tags,
              "no_index": _no_index, "release_status": _release_status}
    for key, value in doc.items():
        path = _child("$", key)
        if key in checks:
            checks[key](value, path, out)
        elif not _CUSTOM_RE.match(key):
            out.append(Problem(path, "unknown key (custom keys start with x_ or X_)"))
    return out


def _child(path, key):
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if _IDENT_RE.fullmatch(key) else f"{path}[{json.dumps(key)}]"


def type_name(value):
    """The JSON type of a value, with its article: "an array", "a number", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


def _is(value, kind, path, out):
    if isinstance(value, kind) and not isinstance(value, bool):
        return True
    want = {dict: "an object", list: "an array", str: "a string"}[kind]
    out.append(Problem(path, f"must be {want}, not {type_name(value)}"))
    return False


def show_value(value):
    return json.dumps(value, ensure_ascii=False)


def _text(value, path, out):
    if _is(value, str, path, out) and not value:
        out.append(Problem(path, "must not be empty"))


def _term(value, path, out, what=None):
    if not _is(value, str, path, out):
        return
    if len(value) < 2:
        out.append(Problem(path, f"{show_value(value)} is too short: {what or 'a name'} has at least 2 characters"))
    elif any(c in "/\\" or c.isspace() or unicodedata.category(c) == "Cc" for c in value):
        out.append(Problem(path, f"{show_value(value)} must not contain a slash, backslash, space or control character"))


def _version(value, path, out):
    if _is(value, str, path, out) and not SEMVER_RE.fullmatch(value):
        hint = normalize_version(value, quiet=True)
        fix = f"; write {show_value(hint)}" if hint else ""
        out.append(Problem(path, f"{show_value(value)} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0){fix}"))


def _maintainer(value, path, out):
    if isinstance(value, list):
        if not value:
            out.append(Problem(path, "must list at least one maintainer"))
        _unique_strings(value, path, out, _text)
    elif _is(value, str, path, out) and not value:
        out.append(Problem(path, "must not be empty"))


def _unique_strings(items, path, out, check):
    seen = set()
    for i, item in enumerate(items):
        check(item, _child(path, i), out)
        if isinstance(item, str):
            if item in seen:
                out.append(Problem(_child(path, i), f"{show_value(item)} is listed twice"))
            seen.add(item)


def _license(value, path, out):
    if isinstance(value, dict):
        if not value:
            out.append(Problem(path, "must name at least one license"))
        for name, url in value.items():
            _uri(url, _child(path, name), out)
    elif isinstance(value, list):
        if not value:
            out.append(Problem(path, "must name at least one license"))
        _unique_strings(value, path, out, _license_name)
    elif isinstance(value, str):
        _license_name(value, path, out)
    else:
        out.append(Problem(path, f"must be a license name, a list of them or an object of name: URL, "
                                 f"not {type_name(value)}"))


def _license_name(value, path, out):
    if _is(value, str, path, out) and value not in LICENSES:
        out.append(Problem(path, f"{show_value(value)} is not a license PGXN knows (postgresql, mit, apache_2_0, "
                                 f"bsd, gpl_3, ...; or {{\"NAME\": \"URL\"}} for another)"))


def _uri(value, path, out):
    if _is(value, str, path, out) and not URI_RE.fullmatch(value):
        out.append(Problem(path, f"{show_value(value)} is not a URI (e.g. https://example.org/)"))


def _path(value, path, out):
    if not _is(value, str, path, out):
        return
    parts = value.removeprefix("./").split("/")
    if len(value) < 2:
        out.append(Problem(path, f"{show_value(value)} is too short: a path has at least 2 characters"))
    elif value.startswith("/") or any(p in (".", "..") for p in parts):
        out.append(Problem(path, f"{show_value(value)} must be a path inside the distribution: relative, "
                                 f"with no . or .. part"))


def _object(value, path, out, known, *, required=(), one_of=None):
    """Common object rules: required keys, known keys plus x_ ones, at least one of `one_of`."""
    if not _is(value, dict, path, out):
        return False
    for key in required:
        if key not in value:
            out.append(Problem(_child(path, key), "required"))
    for key in value:
        if key not in known and not _CUSTOM_RE.match(key):
            out.append(Problem(_child(path, key), f"unknown key (known: {', '.join(known)}; "
                                                  f"custom keys start with x_ or X_)"))
    if one_of and not any(all(k in value for k in group) for group in one_of):
        wanted = " or ".join(" and ".join(group) for group in one_of)
        out.append(Problem(path, f"needs {wanted}"))
    return True


def _provides(value, path, out):
    if not _is(value, dict, path, out):
        return
    if not value:
        out.append(Problem(path, "must name at least one extension"))
    for name, ext in value.items():
        sub = _child(path, name)
        _term(name, sub, out, "an extension name")
        if _object(ext, sub, out, ("file", "version", "abstract", "docfile", "docpath"),
                   required=("file", "version")):
            for key, check in (("file", _path), ("version", _version), ("abstract", _text),
                               ("docfile", _path), ("docpath", _text)):
                if key in ext:
                    check(ext[key], _child(sub, key), out)


def _meta_spec(value, path, out):
    if not _object(value, path, out, ("version", "url"), required=("version",)):
        return
    version = value.get("version")
    if "version" in value and _is(version, str, _child(path, "version"), out):
        if not re.fullmatch(r"1\.0\.[0-9]+", version):
            out.append(Problem(_child(path, "version"), f"{show_value(version)} is not 1.0.x: PGXN reads "
                                                        f"Meta Spec 1.0 (write \"1.0.0\")"))
    if "url" in value and _is(value["url"], str, _child(path, "url"), out) and value["url"] not in SPEC_URLS:
        out.append(Problem(_child(path, "url"), f"must be {SPEC_URLS[0]}"))


def _prereqs(value, path, out):
    if not _object(value, path, out, PHASES, one_of=[(p,) for p in PHASES]):
        return
    for phase in PHASES:
        if phase not in value:
            continue
        sub = _child(path, phase)
        if not _object(value[phase], sub, out, RELATIONSHIPS, one_of=[(r,) for r in RELATIONSHIPS]):
            continue
        for rel in RELATIONSHIPS:
            if rel in value[phase]:
                _relationship(value[phase][rel], _child(sub, rel), out)


def _relationship(value, path, out):
    if not _is(value, dict, path, out):
        return
    if not value:
        out.append(Problem(path, "must name at least one prerequisite"))
    for name, wanted in value.items():
        sub = _child(path, name)
        _term(name, sub, out, "a prerequisite's name")
        ok = (wanted == 0 and type(wanted) is int) or (isinstance(wanted, str) and RANGE_RE.fullmatch(wanted))
        if not ok:
            out.append(Problem(sub, f"{show_value(wanted)} is not a version range (0 for any version, a version such "
                                    f"as \"13.0.0\" for that or later, or operators: \">= 13.0.0, < 19.0.0\")"))


def _resources(value, path, out):
    if not _object(value, path, out, ("homepage", "bugtracker", "repository"),
                   one_of=[("homepage",), ("bugtracker",), ("repository",)]):
        return
    if "homepage" in value:
        _uri(value["homepage"], _child(path, "homepage"), out)
    if "bugtracker" in value:
        sub = _child(path, "bugtracker")
        if _object(value["bugtracker"], sub, out, ("web", "mailto"), one_of=[("web",), ("mailto",)]):
            if "web" in value["bugtracker"]:
                _uri(value["bugtracker"]["web"], _child(sub, "web"), out)
            mail = value["bugtracker"].get("mailto")
            if "mailto" in value["bugtracker"] and _is(mail, str, _child(sub, "mailto"), out) \
                    and not _EMAIL_RE.fullmatch(mail):
                out.append(Problem(_child(sub, "mailto"), f"{show_value(mail)} is not an email address"))
    if "repository" in value:
        sub = _child(path, "repository")
        repo = value["repository"]
        if _object(repo, sub, out, ("url", "web", "type"), one_of=[("url", "type"), ("web",)]):
            for key in ("url", "web"):
                if key in repo:
                    _uri(repo[key], _child(sub, key), out)
            if "type" in repo and _is(repo["type"], str, _child(sub, "type"), out) \
                    and not _LOWER_RE.fullmatch(repo["type"]):
                out.append(Problem(_child(sub, "type"), f"{show_value(repo['type'])} must be the VCS's name in "
                                                        f"lower-case letters (git, hg, svn)"))


def _tag(value, path, out):
    if not _is(value, str, path, out):
        return
    if not 2 <= len(value) <= 255:
        out.append(Problem(path, f"{show_value(value)} must be 2 to 255 characters long"))
    elif any(c in "/\\" or unicodedata.category(c) == "Cc" for c in value):
        out.append(Problem(path, f"{show_value(value)} must not contain a slash, backslash or control character"))


def _tags(value, path, out):
    if _is(value, list, path, out):
        if not value:
            out.append(Problem(path, "must list at least one tag"))
        _unique_strings(value, path, out, _tag)


def _no_index(value, path, out):
    if not _object(value, path, out, ("file", "directory"), one_of=[("file",), ("directory",)]):
        return
    for key in ("file", "directory"):
        if key not in value:
            continue
        sub = _child(path, key)
        if isinstance(value[key], list):
            if not value[key]:
                out.append(Problem(sub, "must list at least one path"))
            _unique_strings(value[key], sub, out, _path)
        else:
            _path(value[key], sub, out)


def _release_status(value, path, out):
    if _is(value, str, path, out) and value not in RELEASE_STATUSES:
        out.append(Problem(path, f"{show_value(value)} must be one of {', '.join(RELEASE_STATUSES)}"))


# ---- versions -------------------------------------------------------------------------------

_LOOSE_RE = re.compile(r"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:[-_.~]?([A-Za-z][0-9A-Za-z.-]*))?")


def normalize_version(version, *, quiet=False):
    """A PostgreSQL extension version (1.0, 2, 1.2beta1) as a semantic version
    (1.0.0, 2.0.0, 1.2.0-beta1).  Raises ExtensionError, or returns None when quiet."""
    text = str(version).strip()
    if SEMVER_RE.fullmatch(text):
        return text
    m = _LOOSE_RE.fullmatch(text)
    if m:
        major, minor, patch, pre = m.groups()
        semver = f"{int(major)}.{int(minor or 0)}.{int(patch or 0)}"
        if pre:
            ids = [p if not p.isdigit() else str(int(p)) for p in pre.strip(".-").split(".") if p]
            semver += "-" + ".".join(ids)
        if SEMVER_RE.fullmatch(semver):
            return semver
    if quiet:
        return None
    raise ExtensionError(f"version '{version}' has no semantic-version form (MAJOR.MINOR.PATCH, e.g. 1.0.0): "
                         f"set \"version\" in META.json yourself")


def version_key(text):
    return [int(p) if p.isdigit() else p for p in re.split(r"[.-]", text)]

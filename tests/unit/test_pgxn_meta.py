"""META.json for PGXN: the Meta Spec 1.0.0 validator (each problem named by its
JSON path, in the words a user reads), version normalization, what ext-meta
reads from a control file and a Makefile, and that it never replaces a value
the author wrote.  The examples and the new-ext templates must validate."""

import copy
import json
import zipfile
from pathlib import Path

import pytest

from pglab.errors import ExtensionError
from pglab.ext import pgxn, pgxn_meta, pgxn_spec
from pglab.ext.discover import Extension, discover
from pglab.ext.pgxn_meta import parse_control
from pglab.ext.pgxn_spec import normalize_version, validate
from pglab.ext.scaffold import TEMPLATES_DIR, templates

VALID = {
    "name": "pair",
    "abstract": "A key/value pair data type",
    "version": "0.1.0",
    "maintainer": "David E. Wheeler <david@example.org>",
    "license": "postgresql",
    "provides": {"pair": {"file": "sql/pair.sql", "version": "0.1.0", "abstract": "A key/value pair data type",
                          "docfile": "doc/pair.md"}},
    "prereqs": {"runtime": {"requires": {"PostgreSQL": "13.0.0", "plpgsql": 0}},
                "test": {"recommends": {"pgTAP": ">= 1.0.0, < 2.0.0"}}},
    "resources": {"homepage": "https://example.org/pair/",
                  "bugtracker": {"web": "https://example.org/pair/issues", "mailto": "bugs@example.org"},
                  "repository": {"url": "https://example.org/pair.git", "web": "https://example.org/pair",
                                 "type": "git"}},
    "tags": ["key value", "pair"],
    "no_index": {"directory": ["test"]},
    "release_status": "testing",
    "generated_by": "hand",
    "x_extra": {"anything": True},
    "meta-spec": {"version": "1.0.0", "url": "https://pgxn.org/meta/spec.txt"},
}


def problems(doc):
    return [str(p) for p in validate(doc)]


def changed(path_and_value=(), drop=()):
    """VALID with values set (dotted path → value) and keys dropped (dotted paths)."""
    doc = copy.deepcopy(VALID)
    for dotted, value in dict(path_and_value).items():
        *parents, last = dotted.split(".")
        node = doc
        for p in parents:
            node = node[p]
        node[last] = value
    for dotted in drop:
        *parents, last = dotted.split(".")
        node = doc
        for p in parents:
            node = node[p]
        del node[last]
    return doc


def test_a_complete_document_is_valid_and_so_is_the_minimal_one():
    assert problems(VALID) == []
    minimal = {k: VALID[k] for k in pgxn_spec.REQUIRED}
    minimal["meta-spec"] = {"version": "1.0.0"}
    minimal["provides"] = {"pair": {"file": "pair.sql", "version": "0.1.0"}}
    assert problems(minimal) == []


def test_each_missing_required_key_is_named_by_its_path():
    assert problems(changed(drop=["name", "license", "meta-spec"])) == [
        "$.name: required", "$.license: required", "$.meta-spec: required"]
    assert problems({}) == [f"$.{k}: required" for k in pgxn_spec.REQUIRED]
    assert problems([]) == ["$: must be an object, not an array"]


def test_provides_without_file_or_version():
    assert problems(changed(drop=["provides.pair.file"])) == ["$.provides.pair.file: required"]
    assert problems(changed({"provides.pair": {"abstract": "x"}})) == [
        "$.provides.pair.file: required", "$.provides.pair.version: required"]
    assert problems(changed({"provides": {}})) == ["$.provides: must name at least one extension"]
    assert problems(changed({"provides.pair.file": "../pair.sql"})) == [
        '$.provides.pair.file: "../pair.sql" must be a path inside the distribution: relative, with no . or .. part']
    assert problems(changed({"provides.pair.homepage": "x"})) == [
        "$.provides.pair.homepage: unknown key (known: file, version, abstract, docfile, docpath; "
        "custom keys start with x_ or X_)"]


def test_versions_must_be_semantic_versions_and_the_fix_is_suggested():
    assert problems(changed({"version": "1.0"})) == [
        '$.version: "1.0" is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0); write "1.0.0"']
    assert problems(changed({"provides.pair.version": "01.2.3"})) == [
        '$.provides.pair.version: "01.2.3" is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0); '
        'write "1.2.3"']
    assert problems(changed({"version": "banana"})) == [
        '$.version: "banana" is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.0.0)']
    assert problems(changed({"version": 1})) == ["$.version: must be a string, not a number"]
    for good in ("1.3.6", "10.20.30", "1.0.0-alpha", "1.1.2+meta", "1.0.0-alpha-a.b-c-something-long+build.1-aef.1"):
        assert problems(changed({"version": good})) == [], good


def test_licenses_in_all_three_forms():
    for good in ("mit", ["apache_2_0", "postgresql"], {"PostgreSQL": "https://www.postgresql.org/about/licence"}):
        assert problems(changed({"license": good})) == [], good
    gpl = ('"gpl" is not a license PGXN knows (postgresql, mit, apache_2_0, bsd, gpl_3, ...; '
           'or {"NAME": "URL"} for another)')
    assert problems(changed({"license": "gpl"})) == [f"$.license: {gpl}"]
    assert problems(changed({"license": ["mit", "gpl"]})) == [f"$.license[1]: {gpl}"]
    assert problems(changed({"license": ["mit", "mit"]})) == ['$.license[1]: "mit" is listed twice']
    assert problems(changed({"license": []})) == ["$.license: must name at least one license"]
    assert problems(changed({"license": {"Perl 5": "dev.perl.org"}})) == [
        '$.license["Perl 5"]: "dev.perl.org" is not a URI (e.g. https://example.org/)']
    assert problems(changed({"license": 5})) == [
        "$.license: must be a license name, a list of them or an object of name: URL, not a number"]


def test_the_meta_spec_version_must_be_1_0():
    assert problems(changed({"meta-spec": {"version": "2.0.0"}})) == [
        '$.meta-spec.version: "2.0.0" is not 1.0.x: PGXN reads Meta Spec 1.0 (write "1.0.0")']
    assert problems(changed({"meta-spec": {"version": "1.0.2"}})) == []
    assert problems(changed({"meta-spec": {"url": "https://pgxn.org/meta/spec.txt"}})) == [
        "$.meta-spec.version: required"]
    assert problems(changed({"meta-spec.url": "https://example.org/spec"})) == [
        "$.meta-spec.url: must be https://pgxn.org/meta/spec.txt"]


def test_prereqs_phases_relationships_and_version_ranges():
    for good in (0, "0", "13.0.0", ">= 13.0.0, < 19.0.0", "==1.0.0", "!= 1.5.0", ">= 2.0.0, 1.5.6", "> 0"):
        assert problems(changed({"prereqs.runtime.requires.PostgreSQL": good})) == [], good
    rng = ('is not a version range (0 for any version, a version such as "13.0.0" for that or later, '
           'or operators: ">= 13.0.0, < 19.0.0")')
    assert problems(changed({"prereqs.runtime.requires.PostgreSQL": ">= 13"})) == [
        f'$.prereqs.runtime.requires.PostgreSQL: ">= 13" {rng}']
    assert problems(changed({"prereqs.runtime.requires.PostgreSQL": "=> 13.0.0"})) == [
        f'$.prereqs.runtime.requires.PostgreSQL: "=> 13.0.0" {rng}']
    assert problems(changed({"prereqs.runtime.requires.PostgreSQL": "13.0.0, 0"})) == [
        f'$.prereqs.runtime.requires.PostgreSQL: "13.0.0, 0" {rng}']
    assert problems(changed({"prereqs.runtime.requires.PostgreSQL": False})) == [
        f"$.prereqs.runtime.requires.PostgreSQL: false {rng}"]
    assert problems(changed({"prereqs": {"runtme": {"requires": {"PostgreSQL": 0}}}})) == [
        "$.prereqs.runtme: unknown key (known: configure, build, test, runtime, develop; custom keys start with "
        "x_ or X_)",
        "$.prereqs: needs configure or build or test or runtime or develop"]
    assert problems(changed({"prereqs.runtime": {"needs": {"PostgreSQL": 0}}})) == [
        "$.prereqs.runtime.needs: unknown key (known: requires, recommends, suggests, conflicts; custom keys start "
        "with x_ or X_)",
        "$.prereqs.runtime: needs requires or recommends or suggests or conflicts"]
    assert problems(changed({"prereqs.runtime.requires": {}})) == [
        "$.prereqs.runtime.requires: must name at least one prerequisite"]


def test_terms_tags_resources_and_the_rest():
    assert problems(changed({"name": "p"})) == ['$.name: "p" is too short: a name has at least 2 characters']
    assert problems(changed({"name": "my pair"})) == [
        '$.name: "my pair" must not contain a slash, backslash, space or control character']
    assert problems(changed({"abstract": ""})) == ["$.abstract: must not be empty"]
    assert problems(changed({"maintainer": []})) == ["$.maintainer: must list at least one maintainer"]
    assert problems(changed({"tags": ["ok", "a/b", "ok"]})) == [
        '$.tags[1]: "a/b" must not contain a slash, backslash or control character', '$.tags[2]: "ok" is listed twice']
    assert problems(changed({"release_status": "beta"})) == [
        '$.release_status: "beta" must be one of stable, testing, unstable']
    assert problems(changed({"resources": {}})) == ["$.resources: needs homepage or bugtracker or repository"]
    assert problems(changed({"resources.repository": {"url": "https://example.org/x.git"}})) == [
        "$.resources.repository: needs url and type or web"]
    assert problems(changed({"resources.repository.type": "Git"})) == [
        '$.resources.repository.type: "Git" must be the VCS\'s name in lower-case letters (git, hg, svn)']
    assert problems(changed({"resources.bugtracker.mailto": "nobody"})) == [
        '$.resources.bugtracker.mailto: "nobody" is not an email address']
    assert problems(changed({"no_index": {}})) == ["$.no_index: needs file or directory"]
    assert problems(changed({"x_": 1, "homepage": "x"})) == [
        "$.x_: unknown key (custom keys start with x_ or X_)", "$.homepage: unknown key (custom keys start with x_ "
                                                               "or X_)"]


def test_a_file_that_is_not_json_or_repeats_a_key_says_so(tmp_path):
    broken = tmp_path / "META.json"
    broken.write_text('{"name": "pair",\n "version": "1.0.0"\n "abstract": "x"}\n')
    assert [str(p) for p in pgxn_spec.load(broken)[1]] == [
        "$: not JSON: Expecting ',' delimiter (line 3, column 2)"]
    doc, found = pgxn_spec.loads(json.dumps(VALID)[:-1] + ', "version": "0.2.0"}')
    assert [str(p) for p in found] == ['$: key "version" is given twice (the last one counts)']
    with pytest.raises(ExtensionError, match="no such file"):
        pgxn_spec.load(tmp_path / "nothing.json")


def test_extension_versions_become_semantic_versions():
    assert [normalize_version(v) for v in ("1.0", "2", "1.2.3", "1.01", "1.2beta1", "2.0-rc.1", "v1.4")] == \
        ["1.0.0", "2.0.0", "1.2.3", "1.1.0", "1.2.0-beta1", "2.0.0-rc.1", "1.4.0"]
    with pytest.raises(ExtensionError, match=r"^version '1\.2\.3\.4' has no semantic-version form"):
        normalize_version("1.2.3.4")


def test_control_files_are_read_as_postgresql_reads_them():
    text = "# c\ncomment = 'it''s a # test'  # trailing\ndefault_version='1.0'\nrelocatable = true\n" \
           "requires = 'hstore, ltree'\n"
    assert parse_control(text) == {"comment": "it's a # test", "default_version": "1.0", "relocatable": "true",
                                   "requires": "hstore, ltree"}


def _ext(tmp_path, control, makefile, files=()):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "demo.control").write_text(control)
    (folder / "Makefile").write_text(makefile)
    for name in files:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("")
    return Extension("demo", folder)


def test_inference_picks_the_install_script_of_the_default_version_or_the_newest(tmp_path, monkeypatch):
    monkeypatch.setattr(pgxn_meta, "infer_maintainer", lambda folder: "Ada <ada@example.org>")
    ext = _ext(tmp_path, "comment = 'demo things'\ndefault_version = '1.2'\nrequires = 'hstore'\n",
               "EXTENSION = demo\nDATA = demo--1.0.sql demo--1.1.sql demo--1.0--1.1.sql demo--1.1--1.2.sql\n",
               ["README.md", "LICENSE", "demo--1.0.sql", "demo--1.1.sql", "demo--1.0--1.1.sql", "demo--1.1--1.2.sql"])
    (ext.path / "LICENSE").write_text("MIT License\n\nPermission is hereby granted, free of charge, to any person")
    doc, notes = pgxn_meta.infer(ext)
    assert doc == {
        "name": "demo", "abstract": "demo things", "version": "1.2.0", "maintainer": "Ada <ada@example.org>",
        "license": "mit",
        "provides": {"demo": {"file": "demo--1.1.sql", "docfile": "README.md", "version": "1.2.0",
                              "abstract": "demo things"}},
        "prereqs": {"runtime": {"requires": {"PostgreSQL": "13.0.0", "hstore": 0}}},
        "generated_by": "pglab ext-meta", "meta-spec": {"version": "1.0.0", "url": "https://pgxn.org/meta/spec.txt"}}
    assert notes["license"] == "license mit from LICENSE"
    assert validate(doc) == []


def test_update_fills_in_what_is_missing_and_keeps_what_the_author_wrote(tmp_path, monkeypatch):
    monkeypatch.setattr(pgxn_meta, "infer_maintainer", lambda folder: None)
    ext = _ext(tmp_path, "comment = 'demo things'\ndefault_version = '1.1'\n",
               "EXTENSION = demo\nDATA = demo--1.0.sql\n", ["demo--1.0.sql"])
    mine = {"name": "demo", "abstract": "My own words", "version": "1.0.0", "license": {"Mine": "https://x.org/l"},
            "provides": {"demo": {"version": "1.0.0"}}, "x_note": "kept"}
    (ext.path / "META.json").write_text(json.dumps(mine))
    result = pgxn_meta.update(ext)
    doc = json.loads((ext.path / "META.json").read_text())
    assert result.written and not result.created
    assert result.kept == ["name", "abstract", "version", "license", "provides", "x_note"]
    assert result.added == ["provides.demo.file", "provides.demo.abstract", "prereqs", "generated_by", "meta-spec"]
    assert {k: doc[k] for k in mine} == {**mine, "provides": {"demo": {"version": "1.0.0", "file": "demo--1.0.sql",
                                                                       "abstract": "demo things"}}}
    assert list(doc) == list(mine) + ["prereqs", "generated_by", "meta-spec"]
    assert result.notes == [
        "no maintainer known (git's user.name is not set): add \"maintainer\": \"NAME <EMAIL>\"",
        "prereqs: PostgreSQL 13.0.0 or later (the oldest major pglab builds; raise it if yours needs a newer one)",
        "kept version \"1.0.0\" as written, but demo.control's default_version makes it 1.1.0: ext-bundle refuses "
        "the mismatch",
        "kept provides.demo.version \"1.0.0\" as written, but demo.control's default_version makes it 1.1.0"]
    assert [str(p) for p in result.problems] == ["$.maintainer: required"]
    before = (ext.path / "META.json").read_text()
    again = pgxn_meta.update(ext)
    assert not again.written and again.added == [] and (ext.path / "META.json").read_text() == before


def test_update_never_rewrites_a_file_it_cannot_read(tmp_path):
    ext = _ext(tmp_path, "default_version = '1.0'\n", "EXTENSION = demo\n", ["demo--1.0.sql"])
    (ext.path / "META.json").write_text('{"name": "demo",')
    with pytest.raises(ExtensionError, match=r"META\.json is not a JSON object \(not JSON: Expecting property name "
                                             r"enclosed in double quotes \(line 1, column 17\)\); ext-meta never "
                                             r"rewrites what it cannot read"):
        pgxn_meta.update(ext)
    assert (ext.path / "META.json").read_text() == '{"name": "demo",'


def test_every_example_and_every_template_carries_a_valid_meta_json():
    examples = discover()
    assert set(examples) == {"pgl_funcs", "pgl_rational", "pgl_worker", "pgl_planlog"}
    for ext in examples.values():
        doc, found = pgxn_spec.load(ext.path / "META.json")
        assert found == [], ext.name
        assert pgxn_meta.version_mismatches(ext, doc) == [], ext.name
        for entry in doc["provides"].values():
            assert (ext.path / entry["file"]).is_file() and (ext.path / entry["docfile"]).is_file()
    for template in templates():
        text = (TEMPLATES_DIR / template / "META.json").read_text().replace("__EXT__", "my_ext")
        doc, found = pgxn_spec.loads(text)
        assert found == [] and doc["name"] == "my_ext", template
        control = (TEMPLATES_DIR / template / "__EXT__.control").read_text()
        assert normalize_version(parse_control(control)["default_version"]) == doc["version"]


def test_a_zip_without_a_top_folder_is_refused_before_pgxnclient_sees_it(tmp_path):
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as z:
        z.writestr("META.json", json.dumps(VALID))
        z.writestr("Makefile", "")
    with pytest.raises(ExtensionError) as exc:
        pgxn.distribution(str(flat))
    assert str(exc.value) == (f"{flat} has no top folder: META.json, Makefile sit at the top of the zip; PGXN "
                              f"expects everything under one folder NAME-VERSION/ (`invoke ext-bundle` makes such "
                              f"a zip)")
    good = tmp_path / "pair-0.1.0.zip"
    with zipfile.ZipFile(good, "w") as z:
        z.writestr("pair-0.1.0/META.json", json.dumps(VALID))
        z.writestr("pair-0.1.0/Makefile", "REGRESS_OPTS = --temp-config $(srcdir)/t.conf\n")
        z.writestr("pair-0.1.0/t.conf", "shared_preload_libraries = 'pair'\n")
    dist = pgxn.distribution(str(good))
    assert (dist.top, dist.extensions) == ("pair-0.1.0", ["pair"])
    assert pgxn.distribution("pair").local is False


def test_credentials_come_from_the_environment_and_never_show_the_password(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("PGXN_USER", "PGXN_USERNAME", "PGXN_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    assert pgxn.credentials("https://example.org/upload").describe() == "not set: export PGXN_USER and PGXN_PASSWORD"
    (tmp_path / ".netrc").write_text("machine example.org login carol password pw-from-netrc\n")
    (tmp_path / ".netrc").chmod(0o600)
    creds = pgxn.credentials("https://example.org/upload")
    assert (creds.user, creds.password, creds.describe()) == (
        "carol", "pw-from-netrc", "carol (from ~/.netrc (machine example.org))")
    monkeypatch.setenv("PGXN_USERNAME", "bob")
    creds = pgxn.credentials("https://example.org/upload")
    assert creds.describe() == "bob (from PGXN_USERNAME and PGXN_PASSWORD), but no password: export PGXN_PASSWORD"
    monkeypatch.setenv("PGXN_PASSWORD", "hunter2")
    creds = pgxn.credentials("https://example.org/upload")
    assert creds.describe() == "bob (from PGXN_USERNAME and PGXN_PASSWORD)" and "hunter2" not in repr(creds)


def test_the_multipart_body_holds_the_fields_and_the_file():
    body, kind = pgxn.multipart({"submit": "Release It!"}, {"archive": ("p.zip", b"PK\x03\x04zip", "application/zip")})
    boundary = kind.split("boundary=")[1]
    assert kind.startswith("multipart/form-data; boundary=pglab-")
    assert body == (f"--{boundary}\r\nContent-Disposition: form-data; name=\"submit\"\r\n\r\nRelease It!\r\n"
                    f"--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"p.zip\"\r\n"
                    f"Content-Type: application/zip\r\n\r\n").encode() + b"PK\x03\x04zip" + \
        f"\r\n--{boundary}--\r\n".encode()


def test_pgxn_mirror_reaches_pgxnclient_only_for_names(monkeypatch):
    monkeypatch.setenv("PGXN_MIRROR", "http://127.0.0.1:9/")
    assert pgxn._pgxn_args(pgxn.Distribution("pair")) == ["--mirror", "http://127.0.0.1:9/"]
    assert pgxn._pgxn_args(pgxn.Distribution("/x/pair-0.1.0.zip", Path("/x/pair-0.1.0.zip"))) == []

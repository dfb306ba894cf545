"""The learner's plan as the learner meets it.

Weeks 1-9 checked as a learner's work is: each item's checks fail on a fresh cluster and
pass once the SQL a learner would run has run (real extensions of the build's contrib:
pg_stat_statements, pgstattuple, postgres_fdw, auto_explain; its pg_dump, pg_restore and
pgbench), item after item, the later items still failing.  On a named cluster of a working
area of the test's own, in a database of the learner's (shop), as `invoke lab week-N --check
--cluster plan` sees it.  Then `labs --status` read against the plan file, its JSON rendered
back into the same text, ticks kept from run to run, and what is refused, in one line."""

import json
import re
import subprocess
import time
from datetime import datetime, timezone

import psycopg
import pytest

from pglab import lab
from pglab.cluster import Cluster, template_for
from pglab.config import Settings
from pglab.lab import plan, progress
from tests.conftest import invoke

BASE = ["CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)",
        "CREATE TABLE orders (id int PRIMARY KEY, customer_id int, amount numeric, status text, "
        "created_at timestamptz)",
        "INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 50) g",
        "INSERT INTO orders SELECT g, g % 50 + 1, g * 1.5, CASE WHEN g % 3 = 0 THEN 'open' ELSE 'paid' END, "
        "'2025-01-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 500) g"]


@pytest.fixture
def area(tmp_path, default_build, settings):
    """(env for invoke, the cluster `plan` of a working area of the test's own, not started)."""
    root = tmp_path / "area"
    cl = Cluster.named(Settings.load(root=root), default_build, "plan", template=template_for(default_build, settings))
    yield {"INVOKE_PGLAB_ROOT": str(root)}, cl
    cl.stop()


def sql(cl, *statements, db="shop", options=""):
    with psycopg.connect(cl.conninfo(db), autocommit=True, options=options) as c:
        for s in statements:
            c.execute(s)


def bin_(cl, name, *args):
    done = subprocess.run([str(cl.build.bin(name)), *args], env={**cl.env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


def reload(cl, name, value):
    """pg_reload_conf(), and wait until a new session sees NAME = VALUE (the reload is asynchronous;
    SHOW, which auto_explain does not log)."""
    sql(cl, "SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while True:
        with psycopg.connect(cl.conninfo("shop")) as c:
            if c.execute(f"SHOW {name}").fetchone()[0] == value:
                return
        assert time.monotonic() < deadline, f"{name} is not {value} after pg_reload_conf()"
        time.sleep(0.1)


def restart(cl, *statements):
    sql(cl, *statements)
    cl.stop()
    cl.start()


def fdw(cl):
    sql(cl, "CREATE EXTENSION postgres_fdw",
        f"CREATE SERVER here FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '{cl.socket_dir}', port '{cl.port}', "
        f"dbname 'shop')",
        "CREATE USER MAPPING FOR CURRENT_USER SERVER here OPTIONS (user 'postgres')",
        "CREATE SCHEMA remote",
        "IMPORT FOREIGN SCHEMA public LIMIT TO (customers) FROM SERVER here INTO remote")
    with psycopg.connect(cl.conninfo("shop")) as c:
        assert c.execute("SELECT count(*) FROM remote.customers").fetchone()[0] == 50


def dump_and_restore(tmp_path):
    def run(cl):
        dump = tmp_path / "shop.dump"
        bin_(cl, "pg_dump", "-Fc", "-f", str(dump), "-d", "shop")
        bin_(cl, "createdb", "shop_copy")
        bin_(cl, "pg_restore", "-d", "shop_copy", str(dump))
    return run


def pgbench(cl):
    bin_(cl, "pgbench", "-i", "-s", "1", "shop")


def pgbench_run(cl):
    bin_(cl, "pgbench", "-c", "2", "-t", "20", "shop")


# For each week, its items that are checked from evidence, in order, each with what a learner
# does for it and whether that is all the item asks for (False: a step on the way, still failing).
STEPS = {
    1: [("1.2", lambda cl: (cl.start(), sql(cl, "CREATE DATABASE shop", db="postgres"), sql(cl, *BASE)), True),
        ("1.4", ["ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers"], True)],
    2: [("2.2", ["ALTER TABLE orders ADD CHECK (amount > 0)"], False),
        ("2.2", ["ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'open'"], True),
        ("2.4", ["CREATE VIEW customer_totals AS WITH t AS (SELECT customer_id, sum(amount) AS total FROM orders "
                 "GROUP BY customer_id) SELECT c.name, t.total FROM customers c JOIN t ON t.customer_id = c.id"], True),
        ("2.5", ["CREATE FUNCTION open_orders(c int) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN "
                 "(SELECT count(*) FROM orders WHERE customer_id = c AND status = 'open'); END $$"], True)],
    3: [("3.2", ["ALTER TABLE orders ADD COLUMN attrs jsonb"], False),
        ("3.2", ["UPDATE orders SET attrs = jsonb_build_object('gift', id % 2 = 0)"], True),
        ("3.3", ["CREATE INDEX ON orders USING gin (attrs)", "CREATE INDEX ON orders (customer_id, created_at)"],
         False),
        ("3.3", ["CREATE INDEX ON orders (created_at) WHERE status = 'open'"], True),
        ("3.4", ["ALTER TABLE customers ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', name)) "
                 "STORED"], True)],
    4: [("4.3", ["CREATE ROLE reader LOGIN", "GRANT SELECT ON orders TO reader"], True),
        ("4.4", ["CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = public "
                 "AS 'SELECT count(*) FROM orders'"], True),
        ("4.5", fdw, True)],
    5: [("5.3", ["COMMENT ON TABLE orders IS 'one row per order a customer placed'"], True),
        ("5.4", None, True)],          # dump_and_restore, which needs tmp_path
    6: [("6.2", lambda cl: (sql(cl, "ALTER SYSTEM SET work_mem = '32MB'"), reload(cl, "work_mem", "32MB")), True),
        ("6.5", ["CREATE EXTENSION pg_stat_statements"], False),
        ("6.5", lambda cl: (restart(cl, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"),
                            sql(cl, "SELECT count(*) FROM orders JOIN customers ON customers.id = customer_id")),
         True)],
    7: [("7.3", ["ALTER TABLE orders SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 100)"],
         True),
        ("7.5", ["CREATE EXTENSION pgstattuple", "SELECT dead_tuple_percent FROM pgstattuple('orders')",
                 "DELETE FROM orders WHERE id % 2 = 0"], False),
        ("7.5", ["VACUUM orders", "SELECT dead_tuple_percent FROM pgstattuple('orders')"], True)],
    8: [("8.2", ["CREATE INDEX ON orders (customer_id, created_at)",
                 "CREATE INDEX ON orders (created_at) WHERE status = 'open'"], False),
        ("8.2", ["CREATE INDEX ON orders USING brin (created_at)"], True)],
    9: [("9.2", pgbench, False),
        ("9.2", pgbench_run, True),
        ("9.3", lambda cl: (sql(cl, "ALTER SYSTEM SET max_parallel_workers_per_gather = 4"),
                            reload(cl, "max_parallel_workers_per_gather", "4")), True),
        ("9.5", lambda cl: (sql(cl, "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'",
                                "ALTER SYSTEM SET auto_explain.log_min_duration = 0"),
                            reload(cl, "session_preload_libraries", "auto_explain")), False),
        ("9.5", ["SELECT status, count(*) FROM orders GROUP BY status"], True)],
}


def marks(stdout):
    """{item: ✓ when every one of its checks passed, else ✗} from the table `lab week-N --check` prints."""
    found = {}
    for m in re.finditer(r"^│ ([✓✗]) │ (\d+\.\d+) +│", stdout, re.M):
        found[m.group(2)] = "✓" if found.get(m.group(2), "✓") == "✓" and m.group(1) == "✓" else "✗"
    return found


def found_cells(stdout):
    """The `found` column of that table, one text a check (a long cell's wrapped lines joined again)."""
    cells = []
    for row in (line.split("│")[1:-1] for line in stdout.splitlines() if line.startswith("│")):
        if row[0].strip():
            cells.append(row[3].strip())
        else:
            cells[-1] += " " + row[3].strip()
    return cells


def test_every_item_of_weeks_1_to_9_with_evidence_has_a_step_here():
    mine = plan.parse(plan.LINKS_FILE.parent / "20-week-plan.md")
    found = plan.standings(mine, plan.load_links(), lab.load(), {})
    assert {w: list(dict.fromkeys(item for item, _, _ in steps)) for w, steps in STEPS.items()} == \
           {w: [s.item.id for s in found if s.item.week == w and s.evidence] for w in range(1, 10)}


@pytest.mark.parametrize("week", sorted(STEPS))
def test_a_weeks_checks_fail_on_a_fresh_cluster_and_pass_after_the_learners_sql(area, week, tmp_path):
    env, cl = area
    items = list(dict.fromkeys(item for item, _, _ in STEPS[week]))

    def check():
        done = invoke("lab", f"week-{week}", "--check", "--cluster", "plan", env=env)
        return done.returncode, marks(done.stdout), done.stdout

    code, got, out = check()
    assert (code, got) == (1, {item: "✗" for item in items}), out
    assert f"no cluster 'plan' on {cl.build.id} yet: `invoke pg-start --name plan` creates it" in found_cells(out)
    if week != 1:
        cl.start()
        sql(cl, "CREATE DATABASE shop", db="postgres")
        sql(cl, *BASE)
        code, got, out = check()
        assert (code, got) == (1, {item: "✗" for item in items}), out     # a fresh cluster, the schema only
    done = set()
    for item, action, complete in STEPS[week]:
        action = dump_and_restore(tmp_path) if action is None else action
        if callable(action):
            action(cl)
        else:
            sql(cl, *action)
        if complete:
            done.add(item)
        code, got, out = check()
        assert got == {i: "✓" if i in done else "✗" for i in items}, (item, out)
    assert code == 0 and out.rstrip().endswith(f"week {week}: every check passed"), out
    status = json.loads(invoke("labs", "--status", "--json", env=env).stdout)
    today = datetime.now(timezone.utc).date().isoformat()
    assert [(i["id"], i["state"], i["when"][:10]) for i in status["weeks"][week - 1]["items"] if i["id"] in done] == \
           [(item, "checked", today) for item in items]


def test_a_checks_own_queries_are_not_the_learners_evidence(area):
    """pg_stat_statements preloaded and auto_explain logging every plan: the checks' own queries
    are neither recorded nor logged, so 6.5 and 9.5 wait for the learner's."""
    env, cl = area
    cl.start()
    sql(cl, "CREATE DATABASE shop", db="postgres")
    restart(cl, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'",
            "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'",
            "ALTER SYSTEM SET auto_explain.log_min_duration = 0")
    sql(cl, "CREATE EXTENSION pg_stat_statements", "SELECT pg_stat_statements_reset()",
        options="-c auto_explain.log_min_duration=-1")
    for week in (6, 9):
        invoke("lab", f"week-{week}", "--check", "--cluster", "plan", env=env)
    with psycopg.connect(cl.conninfo("shop"), options="-c auto_explain.log_min_duration=-1") as c:
        assert c.execute("SELECT count(*) FROM pg_stat_statements WHERE query ~ 'pg_extension|pg_settings'"
                         ).fetchone()[0] == 0
    assert not re.search(r"duration: [0-9.]+ ms  plan:", cl.log.read_text(errors="replace"))
    assert [(i["id"], i["state"]) for i in json.loads(invoke("labs", "--status", "--json", env=env).stdout)
            ["weeks"][8]["items"] if i["id"] == "9.5"] == [("9.5", "open")]


# ---- the status, its JSON, ticks: what the learner reads and types (no cluster needed) ----------

PLAN_FILE = plan.LINKS_FILE.parent / "20-week-plan.md"


def blocks(stdout):
    """{week: [item lines]} of `labs --status`: the lines under each 'Week N · ...' heading."""
    found, week = {}, None
    for line in stdout.splitlines():
        head = re.match(r"Week (\d+) · ", line)
        if head:
            week = int(head.group(1))
            found[week] = []
        elif week is not None and line.startswith("  "):
            found[week].append(line)
        elif not line.strip():
            week = None
    return found


def test_labs_status_shows_every_item_in_its_week_in_order_in_the_plans_words(tmp_path):
    env = {"INVOKE_PGLAB_ROOT": str(tmp_path / "area")}
    done = invoke("labs", "--status", env=env)
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert lines[:2] == ["PostgreSQL Mastery Tracker – 20 Week Plan (30 min/day, 5 days/week)",
                         "your plan: labs/plan/20-week-plan.md"]
    in_file = {}
    for line in PLAN_FILE.read_text().splitlines():       # read here without pglab's parser
        if line.startswith("### Week "):
            week = int(line.removeprefix("### Week "))
            in_file[week] = []
        elif line.startswith("- [ ] "):
            in_file[week].append(line.removeprefix("- [ ] "))
    shown = blocks(done.stdout)
    assert sorted(shown) == list(range(1, 21))
    for week, words in in_file.items():
        assert len(shown[week]) == len(words), week
        for n, (line, text) in enumerate(zip(shown[week], words), 1):
            assert re.fullmatch(rf"  · {week}\.{n} +{re.escape(text)}  +(invoke \S.*?|—)  +open \((check|tick)\)",
                                line), line
    words, link = 66, 28       # the columns: 17.1's words and 6.2's command (invoke build-pg --version 16)
    assert [l for l in lines if l.startswith(("  · 1.1 ", "  · 5.4 ", "  · 16.4 "))] == [
        f"  · 1.1   {'Read Chapters 1–2 of *The Art of PostgreSQL*':<{words}}  {'—':<{link}}  open (tick)",
        f"  · 5.4   {'Practice backup & restore (`pg_dump`, `pg_restore`)':<{words}}  {'—':<{link}}  open (check)",
        f"  · 16.4  {'Set up `cfbot` or build patches locally':<{words}}  {'invoke lab patch':<{link}}  open (check)"]
    assert len(lines[lines.index("Week 17 · 0 of 3 done") + 1]) == len("  · 17.1  ") + words + 2 + link + 2 + len("open (check)")
    assert lines[-6:-3] == ["64 of 90 items served by a lab or a command",
                            "49 checked from evidence (check), 41 ticked by hand (tick)",
                            "done: 0 checked, 0 ticked, 90 open"]


def test_labs_status_json_round_trips(tmp_path):
    from pglab.lab import show

    env = {"INVOKE_PGLAB_ROOT": str(tmp_path / "area")}
    invoke("lab", "1.1", "--tick", env=env)
    text = invoke("labs", "--status", env=env).stdout
    data = json.loads(invoke("labs", "--status", "--json", env=env).stdout)
    assert "\n".join(t.plain for t in show.status_lines(data, 160)) + "\n" == text
    assert [(i["id"], i["text"]) for w in data["weeks"] for i in w["items"]] == \
           [(i.id, i.text) for i in plan.parse(PLAN_FILE).items]
    first = data["weeks"][0]["items"][:2]
    assert [{k: v for k, v in i.items() if k != "when"} for i in first] == [
        {"id": "1.1", "text": "Read Chapters 1–2 of *The Art of PostgreSQL*", "link": None, "how": "hand",
         "checks": [], "state": "ticked"},
        {"id": "1.2", "text": "Install PostgreSQL and explore `psql`", "link": {"command": "invoke pg-start"},
         "how": "evidence", "checks": ["a cluster of yours that answers queries"], "state": "open"}]
    assert data["counts"] == {"items": 90, "served": 64, "checkable": 49, "by_hand": 41, "checked": 0, "ticked": 1}
    assert [l["name"] for l in json.loads(invoke("labs", "--json", env=env).stdout)] == [l.name for l in lab.load()]


def test_tick_and_undo_are_kept_from_one_run_to_the_next(tmp_path):
    env = {"INVOKE_PGLAB_ROOT": str(tmp_path / "area")}
    item = "1.1 Read Chapters 1–2 of *The Art of PostgreSQL*"
    today = datetime.now(timezone.utc).date().isoformat()

    def row():
        return next(l for l in invoke("labs", "--status", env=env).stdout.splitlines() if l.startswith("  ") and
                    " 1.1 " in l)

    assert row().startswith("  · 1.1 ") and row().endswith("open (tick)")
    first = invoke("lab", "1.1", "--tick", env=env)
    assert (first.returncode, first.stdout) == (0, f"ticked {item}\n")
    again = invoke("lab", "1.1", "--tick", env=env)
    assert (again.returncode, again.stdout) == (0, f"{item} was ticked already, on {today}\n")
    assert row().startswith("  ✓ 1.1 ") and row().endswith(f"ticked {today}")
    assert "Week 1 · 1 of 5 done" in invoke("labs", "--status", env=env).stdout
    kept = progress.load(Settings.load(root=tmp_path / "area"))
    assert list(kept["@plan"]) == ["Read Chapters 1–2 of *The Art of PostgreSQL*"]
    undo = invoke("lab", "1.1", "--tick", "--undo", env=env)
    assert (undo.returncode, undo.stdout) == (0, f"unticked {item} (ticked {today})\n")
    assert row().startswith("  · 1.1 ") and row().endswith("open (tick)")
    assert invoke("lab", "1.1", "--tick", "--undo", env=env).stdout == f"{item} was not ticked\n"
    assert progress.load(Settings.load(root=tmp_path / "area")) == {"@plan": {}}


@pytest.mark.parametrize("argv, line", [
    (("3.2", "--tick"), "error: 3.2 is checked from evidence, not ticked: `invoke lab 3.2 --check` (or `invoke lab "
                        "week-3 --check`) checks it"),
    (("week-3", "--tick"), "error: --tick ticks one item (`invoke lab 3.1 --tick`), not a week"),
    (("1.9", "--tick"), "error: no item 1.9 in labs/plan/20-week-plan.md: week 1 has 5 items (1.1 to 1.5)"),
    (("week-21",), "error: no week-21 in labs/plan/20-week-plan.md: it has weeks 1 to 20 (week-1 ... week-20)"),
    (("mvcc", "--tick"), "error: --tick ticks an item of your plan (`invoke lab 3.1 --tick`), not a lab: a lab is "
                         "done when its checks pass (`invoke lab mvcc --check`)"),
    (("1.1", "--undo"), "error: --undo takes back a tick: `invoke lab 1.1 --tick --undo`"),
    (("week-3", "--start"), "error: --start scaffolds a lab's code, and week-3 is a week of your plan (`invoke lab "
                            "week-3` shows what it needs)"),
])
def test_what_cannot_be_ticked_or_found_is_refused_in_one_line(tmp_path, argv, line):
    env = {"INVOKE_PGLAB_ROOT": str(tmp_path / "area")}
    done = invoke("lab", *argv, env=env)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", line + "\n")
    assert not (tmp_path / "area" / "labs-progress.json").exists()


def test_an_item_done_by_hand_has_nothing_to_check(tmp_path):
    done = invoke("lab", "3.1", "--check", env={"INVOKE_PGLAB_ROOT": str(tmp_path / "area")})
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "item 3.1: nothing it leaves can be checked: tick it by hand when done (`invoke lab 3.1 --tick`)\n", "")


def test_a_malformed_plan_named_by_the_setting_is_one_line(tmp_path):
    own = tmp_path / "my-plan.md"
    own.write_text("# Mine\n### Week 1\n- [ ] read\n### Week 2\n- read more\n")
    env = {"INVOKE_PGLAB_ROOT": str(tmp_path / "area"), "INVOKE_PGLAB_LAB_PLAN": str(own)}
    for argv in (("labs", "--status"), ("labs", "--status", "--json"), ("lab", "week-1")):
        done = invoke(*argv, env=env)
        assert (done.returncode, done.stdout, done.stderr) == (
            1, "", f"error: {own}:5: '- read more' is not an item: an item is '- [ ] what to do'\n"), argv
    own.write_text("# Mine\n### Week 1\n- [ ] Build PostgreSQL from source\n- [ ] read\n")
    done = invoke("labs", "--status", env=env)
    assert done.stdout.splitlines()[:2] == ["Mine", f"your plan: {own}"]
    assert [l for l in done.stdout.splitlines() if l.startswith("  ")] == [
        "  · 1.1  Build PostgreSQL from source  invoke lab build  open (check)",
        "  · 1.2  read                          —                 open (tick)"]


def test_a_week_shows_what_each_item_needs(tmp_path):
    done = invoke("lab", "week-7", env={"INVOKE_PGLAB_ROOT": str(tmp_path / "area")})
    assert done.returncode == 0
    assert done.stdout.split("\n  · 7.3 ")[1].split("\n\n")[0].splitlines() == [
        " Tune autovacuum thresholds",
        "        with: invoke psql · open (check)",
        "        checked from evidence (`invoke lab 7.3 --check`):",
        "          [ ] a table of yours with its own autovacuum threshold or scale factor (reloptions)",
        "              hint: ALTER TABLE orders SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold "
        "= 500)"]
    assert "        by hand: `invoke lab 7.1 --tick` when done (nothing it leaves can be checked)" in done.stdout

"""What the learner has done, kept in the working area (labs-progress.json).

Each lab's passed checks under the lab's name, with when they first passed; the plan's items
under PLAN, by the item's words (so that a tick stays with its item when the plan is reordered):
the item's own checks that passed, and when the learner ticked it by hand.

    {"mvcc": {"table": "2025-03-02T10:00:00+00:00"},
     "@tries": {"mvcc": {"pruned": 2}},
     "@plan": {"Add JSONB fields and run queries": {"checks": {"jsonb": "..."}},
               "Read Chapters 1–2 of *The Art of PostgreSQL*": {"ticked": "..."}}}
"""

import json
from datetime import datetime, timezone

PLAN = "@plan"      # beside the labs' names, which cannot hold an '@'
TRIES = "@tries"    # each lab's checks: how many times in a row they failed (which graded hint is next)


def path(settings):
    return settings.layout.root / "labs-progress.json"


def load(settings):
    try:
        data = json.loads(path(settings).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _save(settings, data):
    target = path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    tmp.replace(target)
    return data


def _keep_passed(passed, results):
    """Remember each passed check (a later failure does not unpass it: the learner did it once)."""
    now = _now()
    for r in results:
        if r.ok and r.check.id not in passed:
            passed[r.check.id] = now


def record(settings, lab, results):
    """Keep LAB's checks that passed in RESULTS, and count how many times the first that failed (the one
    whose hint is shown) has been shown failing since it last passed: graded hints go one further each
    time.  {check id: times shown failing} of the failed ones (0: not shown yet)."""
    data = load(settings)
    _keep_passed(data.setdefault(lab.name, {}), results)
    if not isinstance(data.get(TRIES), dict) or not isinstance(data[TRIES].get(lab.name, {}), dict):
        data[TRIES] = {**(data.get(TRIES) if isinstance(data.get(TRIES), dict) else {}), lab.name: {}}
    tries = data[TRIES].setdefault(lab.name, {})
    count = {id_: n for id_, n in tries.items() if isinstance(n, int) and not isinstance(n, bool) and n > 0}
    shown = next((r for r in results if not r.ok), None)
    for r in results:
        if r.ok:
            count.pop(r.check.id, None)
        elif r is shown:
            count[r.check.id] = count.get(r.check.id, 0) + 1
    data[TRIES][lab.name] = count
    _save(settings, data)
    return {r.check.id: count.get(r.check.id, 0) for r in results if not r.ok}


def passed(data, lab):
    """The ids of LAB's checks the learner has passed."""
    return {c.id for c in lab.checks if c.id in data.get(lab.name, {})}


def _words(text):
    return " ".join(text.split())


def item(data, text):
    """What is recorded for the plan's item TEXT: {"checks": {id: when}, "ticked": when}, either absent."""
    return data.get(PLAN, {}).get(_words(text), {})


def record_item(settings, text, results):
    """Keep the item TEXT's own checks that passed in RESULTS."""
    data = load(settings)
    _keep_passed(data.setdefault(PLAN, {}).setdefault(_words(text), {}).setdefault("checks", {}), results)
    return _save(settings, data)


def tick(settings, text):
    """Tick the item TEXT by hand: (True, now), or (False, when) when it was ticked already."""
    data = load(settings)
    entry = data.setdefault(PLAN, {}).setdefault(_words(text), {})
    if entry.get("ticked"):
        return False, entry["ticked"]
    entry["ticked"] = _now()
    _save(settings, data)
    return True, entry["ticked"]


def untick(settings, text):
    """Take back the tick of the item TEXT: (True, when it had been ticked), or (False, None) when it was not."""
    data = load(settings)
    entry = data.get(PLAN, {}).get(_words(text), {})
    when = entry.pop("ticked", None)
    if when is None:
        return False, None
    if not entry:
        del data[PLAN][_words(text)]
    _save(settings, data)
    return True, when

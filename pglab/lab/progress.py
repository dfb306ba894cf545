"""What the learner has passed, kept in the working area (labs-progress.json)."""

import json
from datetime import datetime, timezone


def path(settings):
    return settings.layout.root / "labs-progress.json"


def load(settings):
    try:
        return json.loads(path(settings).read_text())
    except (OSError, ValueError):
        return {}


def record(settings, lab, results):
    """Remember each passed check (a later failure does not unpass it: the learner did it once)."""
    data = load(settings)
    passed = data.setdefault(lab.name, {})
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for r in results:
        if r.ok and r.check.id not in passed:
            passed[r.check.id] = now
    target = path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(target)
    return data


def passed(data, lab):
    """The ids of LAB's checks the learner has passed."""
    return {c.id for c in lab.checks if c.id in data.get(lab.name, {})}

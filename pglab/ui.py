"""What pglab prints: one console, phase lines, progress bars, tables.

Live bars are drawn only on a terminal; elsewhere (CI logs, pipes) each phase
still prints one line when it starts and one when it ends, so logs stay readable.
"""

import time
from contextlib import contextmanager

from rich.console import Console
from rich.text import Text

# emoji=False: what pglab prints is code, SQL and paths, where `:name:` is never an emoji
console = Console(highlight=False, soft_wrap=True, emoji=False)
if not console.is_terminal:
    console = Console(highlight=False, soft_wrap=True, emoji=False, width=160)  # logs: do not squeeze tables to 80 columns


def say(message, style=None):
    """One line of pglab's own; nothing in it is read as markup (paths may hold brackets)."""
    console.print(Text(str(message), style=style or ""))


def raw(text):
    """Text from elsewhere (compiler output, diffs, logs, backtraces), printed as it is."""
    console.print(text, markup=False, highlight=False)


def note(message):
    """A one-line remark: a skipped channel, a substitution, a cached result."""
    console.print(Text("  · ", style="dim") + Text(str(message)))


_aside = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def aside(message):
    """A progress remark on stderr, for commands whose stdout is data (inspect --format json > file)."""
    _aside.print(Text("  · ", style="dim") + Text(str(message)))


def warn(message):
    console.print(Text("! ", style="yellow") + Text(str(message)))


class _Phase:
    def __init__(self, progress, task):
        self._progress = progress
        self._task = task
        self.detail = ""

    def update(self, completed=None, total=None, detail=None):
        if detail is not None:
            self.detail = detail
        if self._progress is not None:
            kw = {"completed": completed, "total": total}
            kw = {k: v for k, v in kw.items() if v is not None}
            self._progress.update(self._task, **kw)


@contextmanager
def phase(name, *, total=None, unit="steps"):
    """A named step of long work: `with phase("make", total=1400) as p: p.update(n)`."""
    start = time.monotonic()
    say(f"▸ {name}", style="bold")
    progress = task = None
    if console.is_terminal:
        # imported here: a command that draws no bar (a log, a pipe) starts ~20 ms sooner
        from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress, SpinnerColumn,
                                   TextColumn, TimeElapsedColumn)

        columns = [SpinnerColumn(), TextColumn(f"  {name}"), BarColumn()]
        columns.append(DownloadColumn() if unit == "bytes" else MofNCompleteColumn())
        columns.append(TimeElapsedColumn())
        progress = Progress(*columns, console=console, transient=True)
        progress.start()
        task = progress.add_task(name, total=total)
    handle = _Phase(progress, task)
    try:
        yield handle
    finally:
        if progress is not None:
            progress.stop()
    extra = f" ({handle.detail})" if handle.detail else ""
    console.print(Text("  ✓ ", style="green") + Text(f"{name} done in {time.monotonic() - start:.1f} s{extra}"))


def table(title, columns, rows):
    from rich.table import Table

    t = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*[v if isinstance(v, Text) else Text(str(v)) for v in row])
    console.print(t)


def human_size(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024

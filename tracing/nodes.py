"""Parse the backend's nodeToString() text into plain Python data.

The format is PostgreSQL's own (outfuncs.c / read.c): `{NODETYPE :field value
...}` for nodes, `( ... )` for Lists (`(i 1 2)`, `(o ...)`, `(x ...)` for
integer/OID/XID lists, `(b ...)` for Bitmapsets), `<>` for NULL, `N [ b0 b1
... ]` for a Datum's bytes, and backslash-escaped tokens.  Nodes become dicts
with the node name under "node"; pure Python so it is easy to test.
"""

_DELIMS = set(" \t\n(){}")


def tokenize(text):
    """Yield tokens as read.c's pg_strtok() sees them."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n":
            i += 1
            continue
        if c in "(){}":
            yield c
            i += 1
            continue
        buf = []
        while i < n and text[i] not in _DELIMS:
            if text[i] == "\\" and i + 1 < n:
                i += 1
            buf.append(text[i])
            i += 1
        yield "".join(buf)


def _scalar(tok):
    if tok == "<>":
        return None
    if tok == "true":
        return True
    if tok == "false":
        return False
    if len(tok) >= 2 and tok[0] == '"' and tok[-1] == '"':
        return tok[1:-1]
    try:
        return int(tok)
    except ValueError:
        pass
    try:
        return float(tok)
    except ValueError:
        return tok


class _Parser:
    def __init__(self, text):
        self.toks = list(tokenize(text))
        self.pos = 0

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self):
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def value(self):
        tok = self.take()
        if tok == "{":
            return self.node()
        if tok == "(":
            return self.list()
        return _scalar(tok)

    def node(self):
        out = {"node": self.take()}
        while True:
            tok = self.peek()
            if tok is None or tok == "}":
                self.pos += 1
                return out
            if tok.startswith(":"):
                self.pos += 1
                values = []
                while self.peek() not in (None, "}") and not self.peek().startswith(":"):
                    values.append(self.value())
                out[tok[1:]] = _datum(values)
            else:       # stray token (e.g. the value of an unnamed field); keep it
                out.setdefault("_extra", []).append(self.value())

    def list(self):
        items = []
        if self.peek() in ("i", "o", "x", "b"):
            kind = self.take()
            while self.peek() != ")":
                items.append(_scalar(self.take()))
            self.pos += 1
            return {"node": {"i": "IntList", "o": "OidList", "x": "XidList", "b": "Bitmapset"}[kind],
                    "items": items}
        while self.peek() not in (")", None):
            items.append(self.value())
        self.pos += 1
        return items


def _datum(values):
    """A field's values: one value, or a Datum `len [ bytes ]`."""
    if len(values) == 1:
        return values[0]
    if not values:
        return None
    if "[" in values:
        try:
            return {"datum_len": values[0], "bytes": [v for v in values[values.index("[") + 1:]
                                                      if v != "]"]}
        except (ValueError, IndexError):
            return values
    return values


def parse(text):
    """Python data for one nodeToString() result (a node or a List)."""
    p = _Parser(text)
    if p.peek() is None:
        return None
    return p.value()

"""Parse the backend's nodeToString() text into plain Python data.

The format is PostgreSQL's own (outfuncs.c / read.c): `{NODETYPE :field value
...}` for nodes, `( ... )` for Lists (`(i 1 2)`, `(o ...)`, `(x ...)` for
integer/OID/XID lists, `(b ...)` for Bitmapsets), `<>` for NULL, `N [ b0 b1
... ]` for a Datum's bytes, and backslash-escaped tokens.  Nodes become dicts
with the node name under "node".  Pure: imports without gdb.

Text cut short (a read that stopped early, a dump of memory being freed) never
raises: parse() returns what it could read, and the innermost node or list
still open where the text ends carries the marker TRUNCATED (a node gets the
key, a List gets a last element {TRUNCATED: True}).  A field whose values
reach the end of the text is left out, since more values might have followed;
a token the text cuts in the middle is not read at all.  is_truncated() tells.
"""

import re

TRUNCATED = "_truncated"

_DELIMS = set(" \t\n(){}")
_TYPED_LISTS = {"i": "IntList", "o": "OidList", "x": "XidList", "b": "Bitmapset"}


# A token: one bracket, or a run of other characters where a backslash makes
# the next character (a delimiter too) part of the token.
_TOKEN = re.compile(r"[(){}]|(?:\\[\s\S]|\\$|[^ \t\n(){}\\])+")
_ESCAPE = re.compile(r"\\([\s\S])")


def tokenize(text):
    """Yield tokens as read.c's pg_strtok() sees them."""
    for m in _TOKEN.finditer(text):
        tok = m.group()
        yield _ESCAPE.sub(r"\1", tok) if "\\" in tok else tok


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
    """Recursive descent over the tokens.  When they run out inside a node or
    a list, that innermost container is marked and every caller returns what
    it has read so far (self.cut)."""

    def __init__(self, toks):
        self.toks = toks
        self.pos = 0
        self.cut = False

    def peek(self):
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def mark(self, container):
        self.cut = True
        if isinstance(container, list):
            container.append({TRUNCATED: True})
        else:
            container[TRUNCATED] = True
        return container

    def value(self):
        tok = self.take()
        if tok == "{":
            return self.node()
        if tok == "(":
            return self.list()
        return _scalar(tok)

    def node(self):
        toks, n = self.toks, len(self.toks)
        out = {"node": None}
        if self.pos >= n:
            return self.mark(out)
        if toks[self.pos] == "}":       # "{}": a node with nothing in it
            self.pos += 1
            return out
        out["node"] = toks[self.pos]
        self.pos += 1
        while True:
            if self.pos >= n:
                return self.mark(out)
            tok = toks[self.pos]
            if tok == "}":
                self.pos += 1
                return out
            if tok[0] == ":":
                self.pos += 1
                values = []
                while self.pos < n and toks[self.pos] != "}" and toks[self.pos][0] != ":":
                    values.append(self.value())
                    if self.cut:
                        break
                if self.pos >= n and not self.cut:
                    return self.mark(out)       # more values may have followed: leave the field out
                out[tok[1:]] = _datum(values)
            else:       # stray token (e.g. the value of an unnamed field); keep it
                out.setdefault("_extra", []).append(self.value())
            if self.cut:
                return out

    def list(self):
        if self.peek() in _TYPED_LISTS:
            out = {"node": _TYPED_LISTS[self.take()], "items": []}
            while True:
                tok = self.take()
                if tok is None:
                    return self.mark(out)
                if tok == ")":
                    return out
                out["items"].append(_scalar(tok))
        items = []
        while True:
            tok = self.peek()
            if tok is None:
                return self.mark(items)
            if tok == ")":
                self.pos += 1
                return items
            items.append(self.value())
            if self.cut:
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


def _parse_tokens(toks):
    p = _Parser(toks)
    if p.peek() is None:
        return None, False
    return p.value(), p.cut


def parse(text):
    """Python data for one nodeToString() result (a node or a List); None for
    empty text.  Never raises on text cut short: see the module's docstring."""
    toks = list(tokenize(text))
    tree, cut = _parse_tokens(toks)
    if cut and toks and text and text[-1] not in _DELIMS:
        # The text ends inside its last token: "12" may have been "1234".
        tree, _ = _parse_tokens(toks[:-1])
        if tree is None:
            tree = {"node": None, TRUNCATED: True}
    return tree


def is_truncated(tree):
    """Whether parse() found the text cut short anywhere in this tree."""
    if isinstance(tree, dict):
        return bool(tree.get(TRUNCATED)) or any(is_truncated(v) for v in tree.values())
    if isinstance(tree, list):
        return any(is_truncated(v) for v in tree)
    return False

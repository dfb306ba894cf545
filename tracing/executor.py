"""The executor's calls per plan node, as the query target records them.

query.py's breakpoints feed this bookkeeping: a plan id for each PlannedStmt
planner() returns, an executor id for each EState ExecutorStart() sets up,
and for every call of a plan node's own ExecProcNode function (ExecSeqScan,
ExecNestLoop... reached through ExecProcNode()) or of MultiExecProcNode()
(Hash, Bitmap Index Scan) one `exec_call` event.  A call belongs to a loop
of its node the way EXPLAIN ANALYZE counts loops (instrument.c): a node's
loop starts with its first call after it was (re)started, and ExecReScan()
ends it -- so the loops of a Nested Loop's inner side are its outer rows.

Recording is capped (extra["max_node_calls"]): every call costs two stops of
the backend, so past the cap no call is recorded and the tracer removes the
executor's breakpoints.  Pure: imports without gdb.
"""

NODE_CALLS_DEFAULT = 2000


class Node:
    """One PlanState of one executor run."""

    __slots__ = ("executor", "plan", "estate", "node_id", "tag", "function", "loops", "running")

    def __init__(self, executor, plan, estate, node_id, tag, function):
        self.executor, self.plan, self.estate = executor, plan, estate
        self.node_id, self.tag, self.function = node_id, tag, function
        self.loops = 0
        self.running = False


class ExecutorCalls:
    """Plan ids, executor ids, loops and the open calls of one trace.

    Addresses are the backend's: a PlannedStmt, EState or PlanState address
    may be reused by a later statement, so planned() and executor_started()
    replace what an earlier one left under the same address."""

    def __init__(self, cap=NODE_CALLS_DEFAULT):
        self.cap = cap
        self.recorded = 0
        self.capped = False
        self.plans = {}         # PlannedStmt address -> plan id
        self.executors = {}     # EState address -> (executor id, plan id)
        self.nodes = {}         # PlanState address -> Node
        self.open = []          # calls entered and not yet left, innermost last
        self._next_plan = 1
        self._next_executor = 1

    # ------------------------------------------------------------ plans and executors

    def planned(self, stmt):
        """A plan id for the PlannedStmt planner() just returned."""
        plan = self.plans[stmt] = self._next_plan
        self._next_plan += 1
        return plan

    def executor_started(self, estate, stmt):
        """ExecutorStart() set up `estate` for the PlannedStmt `stmt`: a new
        executor id; nodes left under that EState's address are forgotten."""
        self._forget(estate)
        ident = (self._next_executor, self.plans.get(stmt))
        self._next_executor += 1
        self.executors[estate] = ident
        return ident

    def executor_ended(self, estate):
        """ExecutorEnd(): the EState and its PlanStates are about to be freed."""
        self._forget(estate)
        self.executors.pop(estate, None)

    def _forget(self, estate):
        for addr in [a for a, n in self.nodes.items() if n.estate == estate]:
            del self.nodes[addr]

    # ------------------------------------------------------------ nodes

    def node(self, pstate):
        """The Node recorded for a PlanState address, or None."""
        return self.nodes.get(pstate)

    def fresh_node(self, pstate, estate, stmt, node_id, tag, function):
        """A PlanState seen for the first time in its executor run (its
        ExecProcNodeFirst(), or its first call when that was missed)."""
        executor, plan = self.executors.get(estate) or self.executor_started(estate, stmt)
        node = self.nodes[pstate] = Node(executor, plan, estate, node_id, tag, function)
        return node

    def rescan(self, pstate):
        """ExecReScan(): the node's current loop, if it was called in it, ends."""
        node = self.nodes.get(pstate)
        if node is not None:
            node.running = False

    # ------------------------------------------------------------ calls

    def enter(self, node, ts, multi=False):
        """A call of `node` starts at `ts`: the open call, or None when the cap
        is reached (self.capped then tells the caller to stop listening)."""
        if self.recorded >= self.cap:
            self.capped = True
            return None
        self.recorded += 1
        if not node.running:
            node.running = True
            node.loops += 1
        call = {"ts": ts, "executor": node.executor, "plan": node.plan, "node_id": node.node_id,
                "node": node.tag, "function": node.function, "loop": node.loops, "depth": len(self.open)}
        if multi:
            call["multi"] = True
        self.open.append(call)
        return call

    def leave(self, call, ts, row, status="ok"):
        """The call returns at `ts`; row: whether it returned a tuple (None for
        MultiExecProcNode, or when unknown).  The exec_call event's fields."""
        if call in self.open:
            self.open.remove(call)
        fields = dict(call)
        fields["dur"] = ts - call["ts"]
        fields["row"] = row
        fields["status"] = status
        return fields

    def unfinished(self, ts):
        """The calls still open when the trace ends, innermost first."""
        out = []
        while self.open:
            out.append(self.leave(self.open[-1], ts, None, "unfinished"))
        return out

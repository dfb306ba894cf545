"""C extensions: find them, build them with PGXS, run their suites as
`make installcheck` would (regress, isolation, TAP) plus pytest, and report.

    discover    which extensions there are; what `ext-test SPEC` names
    pgxs        the build copy, make, the Makefile's variables, server settings
    suites      regress, isolation, tap and pytest, each under pglab.postmortem.supervise
    server      the server suites run against, kept warm between runs when safe
    runner      ext-test: extensions × builds × suites
    report      results, the table, what to show for each problem
    published   published extensions fetched by name (Debian's source archive)
    scaffold    new-ext and its templates
"""

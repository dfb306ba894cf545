"""C extensions: find them, build them with PGXS, run their suites as
`make installcheck` would (regress, isolation, TAP) plus pytest, and report.

    discover    which extensions there are; what `ext-test SPEC` names
    pgxs        the build copy, make, the Makefile's variables, server settings
    suites      regress, isolation, tap and pytest, each under pglab.postmortem.supervise
    server      the server suites run against, kept warm between runs when safe
    runner      ext-test: extensions × builds × suites
    report      results, the table, what to show for each problem
    published   published extensions fetched by name (debian:NAME, pgxn:NAME)
    prestart    a Python with pytest imported, waiting for the next run
    pgxn_spec, pgxn_meta, pgxn   META.json (validate, infer), bundles, pgxnclient, release
    scaffold    new-ext and its templates
"""

"""Records which compatibility-matrix cell each test proves.

A test marked `@pytest.mark.cell("psycopg 3", "stream")` adds a line
`client<TAB>feature<TAB>ok|fail` to the file named by STRATA_MATRIX;
sql-tests/tests/clients.rs reads the lines of every suite and prints the
matrix. A cell passes only when every test marked with it passed.
"""
import os

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cell(client, feature): the compatibility-matrix cell a test proves"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    matrix = os.environ.get("STRATA_MATRIX")
    if not matrix:
        return
    # A failure in setup or teardown fails the cell too; a pass is recorded
    # once, after the test body ran.
    if report.when != "call" and not report.failed:
        return
    for marker in item.iter_markers("cell"):
        client, feature = marker.args
        with open(matrix, "a", encoding="utf-8") as out:
            out.write(f"{client}\t{feature}\t{'ok' if report.passed else 'fail'}\n")

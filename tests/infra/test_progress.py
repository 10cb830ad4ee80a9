"""Progress in a log file is a few plain lines, not thousands of redrawn bars."""

import io

from infra.progress import progress_bar


def test_a_log_file_gets_plain_lines_not_redrawn_bars():
    log = io.StringIO()
    for _ in progress_bar(range(20000), desc="work", file=log):
        pass
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and 1 <= len(lines) <= 3, lines  # start, end (interval 5 s)
    assert lines[-1].startswith("work: 100%") and "20000/20000" in lines[-1]


def test_disable_hides_it():
    log = io.StringIO()
    for _ in progress_bar(range(10), file=log, disable=True):
        pass
    assert log.getvalue() == ""

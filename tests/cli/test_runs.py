"""The progress display of `herald runs start` and `herald runs watch`."""

from __future__ import annotations

import io

from gateway.cli.runs import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_bar_redraws_in_place() -> None:
    """On a TTY each update rewrites one line: a bar, the percentage, the counts."""
    screen = Terminal()
    bar = Progress(screen, total=200, what="recipients done")
    bar.update(50, "queued=150 sent=50")
    bar.update(200, "sent=200")
    bar.done()
    frames = screen.getvalue().split("\r\x1b[K")[1:]
    assert frames[0].startswith("[" + "#" * 7 + "-" * 23 + "]  25% 50/200 recipients done")
    assert frames[0].endswith("queued=150 sent=50")
    assert frames[1].startswith("[" + "#" * 30 + "] 100% 200/200")
    assert screen.getvalue().endswith("\n")
    assert screen.getvalue().count("\n") == 1


def test_off_a_terminal_it_prints_a_line_per_change() -> None:
    """Piped, updates are plain lines, and an unchanged state is not repeated."""
    pipe = io.StringIO()
    lines = Progress(pipe, total=4, what="recipients done")
    lines.update(1, "queued=3")
    lines.update(1, "queued=3")
    lines.update(4, "sent=4")
    lines.done()
    assert pipe.getvalue() == "1/4 recipients done queued=3\n4/4 recipients done sent=4\n"


def test_the_first_refresh_shows_no_rate() -> None:
    """A run half done when watched is no speed: the first frame shows no
    rate (not what was done before divided by a few microseconds), and later
    frames count only what was done since the first."""
    screen = Terminal()
    bar = Progress(screen, total=1000, what="recipients done")
    bar.update(900, "sent=900")
    bar.update(900, "sent=900")
    frames = screen.getvalue().split("\r\x1b[K")[1:]
    assert "recipients done -/s" in frames[0]
    assert "900/1000 recipients done 0/s" in frames[1] or "recipients done -/s" in frames[1]


def test_a_cut_subject_ends_in_an_ellipsis() -> None:
    """`runs list` cuts long subjects to the column and says so; short ones stay whole."""
    from gateway.cli.runs import cut

    assert cut("Your invoice INV-1", 60) == "Your invoice INV-1"
    assert cut("x" * 61, 60) == "x" * 59 + "…"
    assert len(cut("x" * 61, 60)) == 60

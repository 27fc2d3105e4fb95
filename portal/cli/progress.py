"""A progress line on standard error while the client waits: a spinner on a terminal, plain lines otherwise."""

import sys
import time

FRAMES = "|/-\\"


class Progress:
    """Show what is being waited for, and for how long, without touching standard output."""

    def __init__(self, label: str, stream=None):
        self.label = label
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.started = time.monotonic()
        self.frame = 0
        self.last_text = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.interactive and self.last_text is not None:
            self.stream.write("\n")
            self.stream.flush()

    def update(self, text: str) -> None:
        """Show `text` with the time waited so far: redrawn on a terminal, one line per change otherwise."""
        elapsed = int(time.monotonic() - self.started)
        if self.interactive:
            self.frame = (self.frame + 1) % len(FRAMES)
            line = f"\r{FRAMES[self.frame]} {self.label}: {text} [{elapsed // 60}:{elapsed % 60:02d}]"
            self.stream.write(line + "\033[K")
            self.stream.flush()
        elif text != self.last_text:
            self.stream.write(f"... {self.label}: {text} [{elapsed}s]\n")
            self.stream.flush()
        self.last_text = text

    def done(self, text: str) -> None:
        self.update(text)

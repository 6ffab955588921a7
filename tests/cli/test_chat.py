"""cria chat through a pseudo-terminal, as a person uses it: each turn evaluates only its new
tokens (the counts it prints on a terminal), /undo and /load rewind without evaluating, a
conversation resumed from /save answers as it did, and Ctrl-C stops an answer, not the
program."""
import os
import pty
import re
import select
import sys
import time

CLI = os.environ["CRIA_CLI"]
MODEL = os.path.join(os.environ["CRIA_SHARED_DIR"], "models", "stories260K.gguf")
TMP = os.environ["CRIA_TEST_TMP"]
STATS = re.compile(rb"\[([a-z ]+); (\d+) positions evaluated, (\d+) of (\d+) in context\]")


class Terminal:
    """A program on a pseudo-terminal: what it writes, and keys typed to it."""

    def __init__(self, args):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(CLI, [CLI] + args)
        self.output = b""
        self.seen = 0  # output before this was consumed by expect()

    def expect(self, pattern, timeout=60.0):
        """Reads until `pattern` (bytes regex) appears after what was consumed; returns the match."""
        regex = re.compile(pattern)
        deadline = time.time() + timeout
        while True:
            m = regex.search(self.output, self.seen)
            if m:
                self.seen = m.end()
                return m
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("waited %.0f s for %r; the terminal shows:\n%s"
                                     % (timeout, pattern, self.output[self.seen:].decode("utf-8", "replace")))
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise AssertionError("the program ended while waiting for %r:\n%s"
                                         % (pattern, self.output[self.seen:].decode("utf-8", "replace")))
                self.output += chunk

    def type(self, text):
        os.write(self.fd, text.encode())

    def exit_status(self):
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def turn(term, message):
    """Types a message; returns (answer text, stop reason, evaluated, n_past)."""
    term.type(message + "\n")
    term.expect(re.escape(message.encode()) + rb"\r?\n")  # the terminal's echo
    start = term.seen
    stats = term.expect(STATS)
    answer = term.output[start:stats.start()].decode("utf-8", "replace").strip()
    term.expect(rb"> ")
    return answer, stats.group(1).decode(), int(stats.group(2)), int(stats.group(3))


def main():
    state = os.path.join(TMP, "chat-test.state")
    if os.path.exists(state):
        os.remove(state)
    term = Terminal(["chat", "-m", MODEL, "--temp", "0", "-n", "40", "--system", "You tell stories.", "-t", "1"])
    term.expect(rb"> ")

    answer1, reason1, evaluated1, past1 = turn(term, "Tell me about a cat.")
    assert answer1 and reason1 in ("max tokens", "end of sequence"), (answer1, reason1)
    assert evaluated1 == past1, (evaluated1, past1)
    print("turn 1: %d positions evaluated, %d in context" % (evaluated1, past1))

    term.type("/save %s\n" % state)
    term.expect(rb"\[saved %d positions to " % past1)
    term.expect(rb"> ")  # the prompt, before the next message's echo (else it lands in the answer)

    answer2, _, evaluated2, past2 = turn(term, "And a dog?")
    assert evaluated2 == past2 - past1, "turn 2 evaluated %d positions, but only %d are new" % (evaluated2, past2 - past1)
    print("turn 2: %d positions evaluated, %d in context" % (evaluated2, past2))

    term.type("/undo\n")
    term.expect(rb"\[undone: %d positions left\]" % past1)
    term.expect(rb"> ")
    _, _, evaluated3, past3 = turn(term, "And a bird that sings?")
    assert evaluated3 == past3 - past1, (evaluated3, past3, past1)
    print("edited turn 2: %d positions evaluated, %d in context" % (evaluated3, past3))

    # Back to the saved conversation: the same message gets the same answer, for the same work.
    term.type("/load %s\n" % state)
    term.expect(rb"\[loaded %d positions from " % past1)
    term.expect(rb"> ")
    answer4, _, evaluated4, past4 = turn(term, "And a dog?")
    assert (answer4, evaluated4, past4) == (answer2, evaluated2, past2), (answer4, answer2)

    term.type("/load %s\n" % os.path.join(TMP, "no-such.state"))
    term.expect(rb"error: .*no-such\.state")
    term.type("/quit\n")
    assert term.exit_status() == 0

    # Ctrl-C during an endless answer (end of text banned, the context shifting) stops the
    # answer; the program goes on, and Ctrl-D ends it.
    term = Terminal(["chat", "-m", MODEL, "-c", "96", "--context-shift", "--keep", "1", "-l", "2-inf", "--seed", "4",
                     "-t", "1"])
    term.expect(rb"> ")
    term.type("Tell me a long story.\n")
    term.expect(rb"story\.\r?\n")
    before = len(term.output)
    while len(term.output) < before + 400:  # let it write a while
        ready, _, _ = select.select([term.fd], [], [], 30)
        assert ready, "no answer after 30 s"
        term.output += os.read(term.fd, 65536)
    term.type("\x03")
    stats = term.expect(STATS, timeout=30)
    assert stats.group(1) == b"stopped", stats.group(0)
    term.expect(rb"> ")
    term.type("/undo\n")  # the chat goes on after a stopped answer
    term.expect(rb"\[undone: 0 positions left\]")
    term.expect(rb"> ")
    term.type("\x04")
    assert term.exit_status() == 0
    print("Ctrl-C stopped an answer after %d bytes; the chat went on" % (stats.start() - before))


if __name__ == "__main__":
    main()
    sys.exit(0)

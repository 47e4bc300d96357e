"""Reading fuzz inputs and adding them to a corpus directory the way libFuzzer names them
(the SHA-1 of the content), for the cross-seed scripts."""
import hashlib
import os


def read_inputs(directories):
    """The content of every file in those of the directories that exist, each in name order;
    a file a running fuzzer deletes meanwhile (it reduces inputs) is skipped."""
    for directory in directories:
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            try:
                with open(os.path.join(directory, entry), "rb") as f:
                    yield f.read()
            except FileNotFoundError:
                continue


class CorpusWriter:
    """Adds inputs to `out`, skipping those longer than the target's max_len and those already
    there, so that running a script twice adds nothing."""

    def __init__(self, out: str, max_len: int):
        os.makedirs(out, exist_ok=True)
        self.out, self.max_len = out, max_len
        self.added = self.present = self.skipped = 0

    def add(self, data: bytes) -> None:
        if len(data) > self.max_len:
            self.skipped += 1
            return
        path = os.path.join(self.out, hashlib.sha1(data).hexdigest())
        if os.path.exists(path):
            self.present += 1
            return
        with open(path, "wb") as f:
            f.write(data)
        self.added += 1

    def summary(self) -> str:
        return (f"{self.added} inputs added to {self.out}, {self.present} already there, "
                f"{self.skipped} too long for max_len {self.max_len}")

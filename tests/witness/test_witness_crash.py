"""``hashcore witness serve`` as a process: killed with SIGKILL right after each answer and
started again on the same files, it never cosigns a conflicting checkpoint."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path

from hashcore import _core
from hashcore.witness.protocol import encode_add_checkpoint

from .logs import TestLog

ORIGIN = "relay.site-a.example/trial-umin000032951"
LOG_SEED = bytes(range(32))
NAME = "witness.example/w1"


class WitnessProcess:
    def __init__(self, tmp: Path, log_key: bytes) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hashcore.cli",
                "witness",
                "serve",
                "--name",
                NAME,
                "--key-file",
                str(tmp / "w.key"),
                "--db",
                str(tmp / "w.db"),
                "--log",
                f"{ORIGIN}={log_key.hex()}",
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first.startswith("hashcore witness listening on 127.0.0.1:"), first
        self.port = int(first.rsplit(":", 1)[1])
        self.lines = {}
        for _ in range(3):
            k, _, v = self.proc.stdout.readline().strip().partition(" ")
            self.lines[k] = v

    def post(self, body: bytes) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", "/add-checkpoint", body=body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL


def test_kill9_right_after_answering_never_leads_to_a_conflicting_cosignature(
    tmp_path: Path,
) -> None:
    log = TestLog(ORIGIN, LOG_SEED)
    fork = TestLog(ORIGIN, LOG_SEED, salt=b"fork")  # same key and origin, another history
    cosigned = 0
    key = None
    for step in (3, 1, 8, 20):
        w = WitnessProcess(tmp_path, log.key)
        key = key or bytes.fromhex(w.lines["key"])
        assert bytes.fromhex(w.lines["key"]) == key  # the key file survives too
        if cosigned:
            # After the restart: no other root at the cosigned size, no smaller tree,
            # no fork at a larger size, whatever old size is claimed.
            fork.grow(log.size + 2 - fork.size)
            refusals = [
                (encode_add_checkpoint(cosigned, [], fork.note(cosigned)), 422),
                (encode_add_checkpoint(0, [], fork.note(cosigned)), 409),
                (encode_add_checkpoint(cosigned - 1, [], log.note(cosigned - 1)), 409),
                (encode_add_checkpoint(cosigned, [], log.note(cosigned - 1)), 400),
                (encode_add_checkpoint(cosigned, fork.proof(cosigned), fork.note()), 422),
            ]
            for body, status in refusals:
                got, answer = w.post(body)
                assert got == status, (got, answer)
                if status == 409:
                    assert answer == f"{cosigned}\n".encode()
        log.grow(step)
        got, answer = w.post(encode_add_checkpoint(cosigned, log.proof(cosigned), log.note()))
        assert got == 200, answer
        w.kill9()  # right after the answer: the new size must already be on disk
        assert _core.note_witness_times(log.note() + answer, NAME, key) != []
        cosigned = log.size
    w = WitnessProcess(tmp_path, log.key)
    try:
        got, answer = w.post(encode_add_checkpoint(0, [], log.note()))
        assert (got, answer) == (409, f"{cosigned}\n".encode())
        got, _ = w.post(encode_add_checkpoint(cosigned, [], log.note()))
        assert got == 200
    finally:
        w.proc.send_signal(signal.SIGTERM)
        assert w.proc.wait(timeout=30) == 0


def test_bad_configuration_exits_2_with_one_line(tmp_path: Path) -> None:
    cases = [
        (["--log", "not-a-log"], "expected ORIGIN=<64 hex log key>"),
        (["--log", f"{ORIGIN}={'00' * 31}"], "expected ORIGIN=<64 hex log key>"),
        (["--log", f"{ORIGIN}={'11' * 32}", "--name", "bad name"], "is not a C2SP key name"),
    ]
    for extra, message in cases:
        args = ["--name", NAME, "--key-file", str(tmp_path / "k"), "--db", str(tmp_path / "d")]
        if "--log" in extra and "--name" in extra:
            args = args[2:]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "hashcore.cli",
                "witness",
                "serve",
                *args,
                *extra,
                "--listen",
                "127.0.0.1:0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr

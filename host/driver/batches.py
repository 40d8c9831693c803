"""Batches on the controller's sequencer: sample memory, RUN_BATCH, result frames, recovery.

A batch is rows of sample-memory words (per sample: the input DAC codes, then one perturbed-phase
code per perturbation channel; docs/hardware.md "Sequencer").  `BatchRunner.run` loads them
(LOAD_SAMPLES, as few frames as MAX_REQUEST allows), runs them (RUN_BATCH, two phases per sample or
the forward phase only) and collects the result frames.  Frames that arrive intact are kept (their
sample index is inside the CRC); samples whose frame was lost, damaged or flagged are measured
again (RUN_BATCH of just those), until a round brings nothing new `batch_retries` times.  A batch
whose reply or result frames go missing or arrive late is aborted (ABORT, then STATUS until idle)
before the rerun.  Never filled in: a sample that could not be measured holds NaN.
"""

import struct
import time

import numpy as np

from .client import BoardError, _protocol, status_name

__all__ = ["BatchRunner"]


class BatchRunner:
    def __init__(self, client, n_adc, sample_depth, *, batch_retries=3):
        self.client = client
        self.n_adc = n_adc
        self.sample_depth = sample_depth
        self.batch_retries = int(batch_retries)
        self.config = None

    def configure(self, cfg):
        """SEQ_CONFIG (only when it changed)."""
        P = _protocol()
        if cfg != self.config:
            self.client.request(P.Cmd.SEQ_CONFIG, cfg.pack())
            self.config = cfg

    def run(self, words, forward_only=False):
        """Measure rows of sample words.  Returns (forward sums, perturbed sums or None, errors):
        (rows, n_adc) float arrays of the ADC sums, NaN where a sample failed; errors maps a row
        to what went wrong with it."""
        words = np.asarray(words, dtype=np.int64)
        fwd = np.full((len(words), self.n_adc), np.nan)
        per = None if forward_only else np.full((len(words), self.n_adc), np.nan)
        errors = {}
        for start in range(0, len(words), self.sample_depth):
            chunk = words[start:start + self.sample_depth]
            got, flagged = self._batch(chunk, forward_only)
            for s, (_, f, p) in got.items():
                if flagged.get(s, 0) > self.batch_retries:
                    errors[start + s] = "ADC channel tag mismatch (every attempt)"
                    continue
                fwd[start + s] = f
                if per is not None:
                    per[start + s] = p
        return fwd, per, errors

    def _load(self, chunk):
        """Sample s occupies words s·w .. s·w + w − 1 (w = input lines + perturbation channels)."""
        P = _protocol()
        words = chunk.reshape(-1)
        per_frame = (P.MAX_REQUEST - 2 - 2 - 2) // 2
        for w0 in range(0, len(words), per_frame):
            part = words[w0:w0 + per_frame]
            self.client.request(P.Cmd.LOAD_SAMPLES, struct.pack(f">H{len(part)}H", w0, *map(int, part)),
                                what=f"LOAD_SAMPLES (words {w0}..{w0 + len(part) - 1})")

    def _batch(self, chunk, forward_only):
        """({sample: (status, forward sums, perturbed sums)}, {sample: times flagged}) for the
        loaded samples 0..len-1."""
        P = _protocol()
        count = len(chunk)
        self._load(chunk)
        got, flagged, problems = {}, {}, []
        stalls = 0
        while len(got) < count:
            missing = [s for s in range(count) if s not in got]
            runs, start = [], missing[0]
            for a, b in zip(missing, missing[1:] + [None]):
                if b != a + 1:
                    runs.append((start, a - start + 1))
                    start = b
            progress = False
            for first, k in runs:
                results, problem = self._run_batch(first, k, forward_only)
                for sample, result in results.items():
                    status, f, p = result
                    if (status & P.RESULT_ADC_CHANNEL_MISMATCH) or any(x & 0x8000 for x in f + p):
                        flagged[sample] = flagged.get(sample, 0) + 1
                        if flagged[sample] <= self.batch_retries:
                            continue
                    got[sample] = result
                    progress = True
                if problem:
                    problems.append(problem)
                    self._recover()
            if not progress:
                stalls += 1
                if stalls > self.batch_retries:
                    raise BoardError(f"RUN_BATCH at {self.client.url}: {count - len(got)} of {count} "
                                     f"samples not measured after {stalls} rounds without progress: "
                                     + " | ".join(problems[-3:]))
        return got, flagged

    def _run_batch(self, first, count, forward_only):
        """One RUN_BATCH: ({sample: (status, forward, perturbed)} received intact, problem or None)."""
        P = _protocol()
        client = self.client
        client.results.clear()
        seq = client.send(P.Cmd.RUN_BATCH, P.run_batch_args(first, count, forward_only), resync=True)
        phases = 1 if forward_only else 2
        got = {}
        deadline = time.monotonic() + client.timeout
        while True:
            body = client.results.pop(0) if client.results else client.read_frame(deadline)
            if body is None:
                client.stats["timeouts"] += 1
                return got, (f"RUN_BATCH {first}+{count}: nothing for {client.timeout:g} s "
                             f"({len(got)} results arrived)")
            if len(body) >= 2 and body[1] == P.Cmd.RESULT:
                try:
                    _, status, sample, f, p = P.parse_result(body, self.n_adc)
                except P.FrameError:
                    client.stats["bad_frames"] += 1
                    continue
                if len(body) != P.result_length(self.n_adc, phases):
                    client.stats["stale_replies"] += 1          # a frame of an earlier batch
                    continue
                if first <= sample < first + count:
                    got.setdefault(sample, (status, f, p))
                deadline = time.monotonic() + client.timeout
                if status & P.RESULT_LAST:
                    return got, None           # the batch is over (lost frames are re-run)
                continue
            reply = client.match(body, seq, P.Cmd.RUN_BATCH)
            if reply is None:
                continue
            if reply.status == P.Status.OK:
                deadline = time.monotonic() + client.timeout
                continue
            client.stats["error_replies"] += 1
            if reply.status in P.FRAME_ERRORS:          # the request arrived damaged: nothing ran
                return got, f"RUN_BATCH request damaged ({status_name(reply.status)})"
            if reply.status == P.Status.ERR_BUSY:       # a batch we lost track of: stop it, rerun
                return got, "the controller was still busy with an earlier batch"
            raise BoardError(f"RUN_BATCH at {client.url}: the controller answered "
                             f"{status_name(reply.status)}")

    def _recover(self):
        """After a failed batch: stop it, wait until the controller is idle, discard what is in flight."""
        P = _protocol()
        client = self.client
        client.stats["batch_recoveries"] = client.stats.get("batch_recoveries", 0) + 1
        client.drain(0.05)
        client.request(P.Cmd.ABORT)
        client.wait_idle()
        client.drain(0.05)

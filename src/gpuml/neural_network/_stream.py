"""Training from a ``gpuml.data`` source: read into memory when it fits, else streamed.

- **Resident.** A source whose rows fit half the resident budget
  (``gpuml.device.resident_budget``) is read once (``gpuml.data.resident``) and then
  trained on exactly as arrays are: the same draws, the same weights.
- **Streamed.** Otherwise every epoch is a pass (``gpuml.data.run_pass``) over chunks
  sized by the memory planner, read ahead in the background. A source with random
  access (arrays, ``.npy`` files, ``.npy`` shard folders) is read in a new random order
  of its chunks each epoch; the rows of each chunk are shuffled on the device; batches
  are cut from this stream of rows, a batch that straddles two chunks adding up its
  gradient over both (the same step as in one piece, without holding both chunks).
  Every draw comes from the estimator's ``RandomState`` in the calling thread, so a
  fixed ``random_state`` reproduces the fit. Labels are encoded on the host by the
  reader thread, so the device only ever sees numbers.
- **Classes.** The classifier learns ``classes_`` from one pass over the targets before
  training (only the distinct labels are kept, not one per row); ``partial_fit``, whose
  classes are given, checks each chunk's labels as they arrive instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from sklearn.base import is_classifier
from torch import Tensor

from ..data import Chunk, Source, all_finite, plan_rows, resident, run_pass
from ..device import memory_budget, resident_budget
from ._train import SAFETY_MARGIN, TrainData, Trainer

#: The number of rows of a source whose length is not known before it is read.
UNKNOWN = 1 << 62


def host(a: Any) -> np.ndarray:
    """An array or a tensor (on any device) as a host array."""
    return a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)


def _unique(y: np.ndarray) -> np.ndarray:
    return np.unique(y, axis=0) if y.ndim == 2 else np.unique(y)


def unique_targets(source: Source, device: torch.device) -> np.ndarray:
    """The distinct targets of ``source`` (labels, or rows of a label-indicator matrix), from
    one read of it on the host in chunks sized as a pass's: nothing goes to the device, and only
    the distinct ones are kept."""
    rows = plan_rows(memory_budget(device) // 2, source.n_features * source.itemsize + 16, source.rows_known or UNKNOWN)
    seen = None
    for c in source.chunks(rows):
        u = _unique(host(c.y))
        seen = u if seen is None else _unique(np.concatenate([seen, u]))
    return seen


def from_source(est: Any, source: Source, device: torch.device, incremental: bool) -> tuple[Any, Any, Any]:
    """``(X, y, w)`` in memory when ``source`` fits half the resident budget, else
    ``(StreamData, None, None)``. The caller has validated ``source`` (a target, its width)."""
    if not source.one_shot:  # counting a one-shot iterator's rows would use it up
        held = resident(source, device, resident_budget(device) // 2)
        if held is not source or getattr(source, "on_device", None) == device:
            X = held.X  # a float dtype: sources convert integers and half precision as they read
            if not source.validate and not all_finite(X):  # a validating source's chunks were checked as read
                raise ValueError("Input X contains NaN or infinity.")
            return X, held.y, held.w
    return StreamData(est, source, device, incremental), None, None


def _read_range(source: Source, s: int, e: int) -> Chunk:
    """Rows ``s:e`` of a random-access source."""
    return source.take(np.arange(s, e))._replace(start=s)


class _Epochs(Source):
    """A source's chunks as the network trains on them: in a random order of chunks when
    ``seed`` is set and the source has random access, targets encoded by ``encode``."""

    def __init__(self, source: Source, encode: Callable[[np.ndarray], np.ndarray], n_outputs: int):
        self.inner, self.encode = source, encode
        self.n_features, self.io_bound, self.validate = source.n_features, source.io_bound, source.validate
        self.dtype = source.dtype  # a float dtype (sources convert as they read)
        self.feature_names, self._rows = source.feature_names, source.rows_known
        self.y_ndim, self._n_targets = 2, n_outputs
        self.seed: int | None = None
        self.y_dtype = np.dtype(np.float32)

    def chunks(self, rows: int) -> Iterator[Chunk]:
        inner = self.inner
        if self.seed is None or not inner.random_access:
            chunks = inner.chunks(rows)
        else:
            n = inner.count_rows()
            starts = np.random.RandomState(self.seed).permutation(np.arange(0, n, rows))
            chunks = (_read_range(inner, int(s), min(int(s) + rows, n)) for s in starts)
        for c in chunks:
            yield c._replace(y=np.asarray(self.encode(host(c.y)), dtype=self.y_dtype))


class StreamData:
    """Training rows streamed from a source that does not fit the device: what ``TrainData``
    is for rows in memory (``epoch``, ``full_gradient``, ``max_batch``), pass by pass.

    Sets up the estimator's targets first: ``classes_`` from one pass over the labels
    (classifier), and refuses what a stream cannot do (early stopping; several passes
    over a one-shot iterator).
    """

    def __init__(self, est: Any, source: Source, device: torch.device, incremental: bool):
        name = type(est).__name__
        if est.early_stopping and not incremental:
            raise ValueError(
                f"early_stopping=True holds out a validation split of the rows, and this source does not fit "
                f"the device's memory budget ({name} streams it). Hold out validation data yourself "
                "(score it between partial_fit calls), or set early_stopping=False."
            )
        one_shot = source.one_shot
        if one_shot and (est.solver == "lbfgs" or (est.max_iter > 1 and not incremental)):
            raise ValueError(
                f"{name} with solver={est.solver!r} and max_iter={est.max_iter} reads the data several times, "
                "but this source is a one-shot iterator: pass a list or a function returning a fresh "
                "iterator to IterableSource, or train one pass at a time (max_iter=1, or partial_fit)."
            )
        if is_classifier(est):
            if not (incremental and hasattr(est, "classes_")):
                if one_shot:
                    raise ValueError(
                        f"{name}.fit reads the labels once before training (to find the classes), and this "
                        "source is a one-shot iterator: pass a re-iterable source, or use "
                        "partial_fit(source, classes=...)."
                    )
                est._targets(unique_targets(source, device), incremental)  # defines or checks classes_
        self.source, self.device = source, device
        self.n = source.rows_known or UNKNOWN
        self.n_features = source.n_features
        self.n_outputs = est._stream_outputs(source)
        self.view = _Epochs(source, est._encode, self.n_outputs)
        self.dtype = self.view.dtype

    def epoch(self, trainer: Trainer, optimizer, batch: int, rs: np.random.RandomState | None,
              total: Tensor) -> int:
        """One pass of gradient steps in batches of ``batch`` rows; the number of rows read."""
        self.view.seed = None if rs is None else int(rs.randint(np.iinfo(np.int32).max))
        steps = _Steps(trainer, optimizer, batch, rs, total, self.n_outputs)
        self._run(trainer, steps)
        steps.flush()
        return steps.rows

    def full_gradient(self, trainer: Trainer) -> Tensor:
        """Loss and (in ``net.grad``) gradient of all the rows, by one pass: L-BFGS's objective."""
        self.view.seed = None
        steps = _Steps(trainer, None, UNKNOWN, None, None, self.n_outputs)
        self._run(trainer, steps)
        return steps.flush()

    def max_batch(self, trainer: Trainer, budget: int) -> int:
        """``batch_size="max"``: the planner's estimate of a step that fits ``budget`` (no trial steps
        on rows that are not in memory), with the search's safety margin."""
        return max(1, int(plan_rows(budget, trainer.net.bytes_per_row(), self.n) * SAFETY_MARGIN))

    def _run(self, trainer: Trainer, steps: _Steps) -> None:
        self.view.y_dtype = torch.empty(0, dtype=trainer.net.master).numpy().dtype
        try:
            run_pass(self.view, steps, self.device, dtype=trainer.net.compute)
        finally:
            trainer.data = self  # drop the last chunk
        if steps.rows == 0:
            raise ValueError(f"{self.source!r} yielded no rows")


class _Steps:
    """``run_pass`` reduction of one epoch: gradient steps over each chunk's rows (shuffled by
    ``rs`` unless None), in batches of ``batch`` rows that may straddle chunks.

    A batch's gradient sums are added up piece by piece; an out-of-memory error in a piece
    restores the sums from before it and redoes it in smaller micro-batches (as
    ``Trainer.gradient`` redoes a whole batch). The state lives
    here (steps are sequential: there is nothing to merge).
    """

    def __init__(self, trainer: Trainer, optimizer, batch: int, rs: np.random.RandomState | None,
                 total: Tensor | None, n_outputs: int):
        self.trainer, self.optimizer, self.batch, self.rs, self.total = trainer, optimizer, batch, rs, total
        self.n_outputs = n_outputs
        self.backup = torch.empty_like(trainer.net.grad)
        self.rows = self.filled = 0
        self.loss: Tensor | None = None
        self.sw: float | Tensor = 0.0

    def init(self, n_features: int, device: torch.device) -> None:
        return None

    def merge(self, a: None, b: None) -> None:
        raise NotImplementedError("gradient steps are sequential")

    def bytes_per_row(self, n_features: int, itemsize: int) -> int:
        # the chunk on the device: X, the encoded targets, the weights and the row order
        master = self.trainer.net.grad.element_size()
        return n_features * itemsize + self.n_outputs * master + 16

    def update(self, state: None, X: Tensor, Y: Tensor, w: Tensor | None) -> None:
        trainer, net = self.trainer, self.trainer.net
        data = trainer.data = TrainData(X, Y, w, X.device)
        order = None if self.rs is None else data.order(self.rs.permutation(data.n))
        pos = 0
        while pos < data.n:
            if self.filled == 0:
                trainer.begin()
            take = min(self.batch - self.filled, data.n - pos)
            ids = slice(pos, pos + take) if order is None else order[pos:pos + take]
            if self.filled:  # a batch's later piece: keep the sums so far (a first piece starts from 0)
                self.backup.copy_(net.grad)
            loss = trainer.retry(trainer.sums, ids, undo=self._undo)
            self.loss = loss if self.loss is None else self.loss.add_(loss)
            self.sw = data.weight_sum(ids, net.master) + self.sw
            pos += take
            self.filled += take
            if self.filled == self.batch:
                self.flush()
        self.rows += data.n

    def _undo(self) -> None:
        """Restore the gradient sums from before a failed piece."""
        net = self.trainer.net
        if self.filled:
            net.grad.copy_(self.backup)
        else:
            net.grad.zero_()

    def flush(self) -> Tensor | None:
        """End the current batch (if any rows are in it): its step; its mean loss."""
        if not self.filled:
            return None
        net = self.trainer.net
        loss = self.trainer.finish(self.loss, self.sw)
        if self.optimizer is not None:
            self.optimizer.step(net.theta, net.grad)
        if self.total is not None:
            self.total.add_(loss, alpha=self.filled)
        self.filled, self.loss, self.sw = 0, None, 0.0
        return loss

"""``train.distribute``: the tf.distribute strategy, which process writes outputs, and multi-worker fixes.

``multi_worker`` runs one training process per host (or per CPU share of one host), each
with ``TF_CONFIG`` naming the cluster and its own task. Every worker trains on its share of
each global batch and the gradients are all-reduced, so all workers hold the same weights;
only the chief (task ``chief``, or ``worker`` 0 when there is none) writes the stage's
outputs and resumable state where the pipeline reads them.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from stages.errors import PipelineError

CPU_DEVICES_ENV = "IMDB_RNN_CPU_DEVICES"  # split the CPU into N logical devices (tests mirrored training on CPU)
# A collective (gradient all-reduce) waiting longer than this for another worker fails the step
# instead of hanging; a worker that exits is noticed at once (its connection is refused).
COLLECTIVE_TIMEOUT_S = 300.0


def split_cpu(count: int) -> None:
    """Split the CPU into ``count`` logical devices; must run before TensorFlow initialises its devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])


def make_strategy(name: str):
    """The ``tf.distribute`` strategy named by ``train.distribute``."""
    import tensorflow as tf

    if os.environ.get(CPU_DEVICES_ENV):
        split_cpu(int(os.environ[CPU_DEVICES_ENV]))
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        return tf.distribute.MirroredStrategy([device.name for device in tf.config.list_logical_devices("CPU")])
    if not os.environ.get("TF_CONFIG"):
        raise PipelineError(
            "train.distribute: multi_worker needs the TF_CONFIG environment variable (cluster and task)"
        )
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=COLLECTIVE_TIMEOUT_S)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def is_multi_worker(strategy) -> bool:
    """Whether the strategy spans several processes."""
    extended = getattr(strategy, "extended", None)
    return bool(getattr(extended, "_num_workers", 1) > 1)


def is_chief(strategy) -> bool:
    """Whether this process writes the outputs (always, except on non-chief multi-worker tasks)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "chief" or (not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)


@contextlib.contextmanager
def worker_paths(strategy, outputs: tuple[Path, ...], state_dir: Path) -> Iterator[tuple[tuple[Path, ...], Path]]:
    """The output paths and state folder this process writes to.

    The chief gets the real ones. Another worker writes its outputs to a temporary folder,
    removed afterwards, and keeps its resumable state beside the chief's (``train_state-worker-N``)
    so that a rerun of every worker resumes all of them from the same epoch.
    """
    if is_chief(strategy):
        yield outputs, state_dir
        return
    resolver = strategy.cluster_resolver
    own_state = state_dir.with_name(f"{state_dir.name}-{resolver.task_type}-{resolver.task_id}")
    with tempfile.TemporaryDirectory(prefix="imdb-rnn-worker-") as scratch:
        yield tuple(Path(scratch) / f"{i}-{path.name}" for i, path in enumerate(outputs)), own_state


@contextlib.contextmanager
def keras_multi_worker_fixes(strategy) -> Iterator[None]:
    """Work around Keras 3's ``fit`` under ``MultiWorkerMirroredStrategy`` while it runs.

    Keras 3.15 fails there in two places (keras-team/keras#20585, tensorflow/tensorflow#72388):
    it all-reduces the first input batch to learn its shapes (nested int batches cannot be
    reduced, and each worker's batch has its own width), and it reduces each step's scalar
    loss and metrics along an axis 0 they do not have. The fix learns the shapes from the
    local batch and takes the cross-worker mean of scalars; nothing changes for other strategies.
    tests/test_distribute.py's two-process test is its contract.
    """
    if not is_multi_worker(strategy):
        yield
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    def symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(_local_value(self.distribute_strategy), next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    original_build, original_reduce = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica = symbolic_build, reduce_per_replica
    try:
        yield
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as exc:
        first_line = str(exc).strip().splitlines()[0][:200]
        raise PipelineError(
            "multi-worker training lost another worker (or waited longer than "
            f"{COLLECTIVE_TIMEOUT_S:.0f} s for it): {first_line}. Restart every worker with the same "
            "TF_CONFIG to resume from the last finished epoch"
        ) from None
    finally:
        trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica = original_build, original_reduce


def _local_value(strategy):
    import tensorflow as tf

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    return local

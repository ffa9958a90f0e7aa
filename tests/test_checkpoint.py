"""StopOnSignal: Ctrl-C and SIGTERM stop training between batches, never inside Keras or tf.data."""

import os
import signal

import keras
import numpy as np
import pytest

from stages.nn.checkpoint import StopOnSignal


def test_a_signal_is_recorded_and_stops_at_the_next_check():
    stop = StopOnSignal()
    with pytest.raises(KeyboardInterrupt), stop.installed():
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs here and must not raise
        assert stop.received == "SIGTERM"
        stop.stop_if_signalled()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the previous handler is back


def test_a_second_signal_stops_at_once():
    stop = StopOnSignal()
    with pytest.raises(KeyboardInterrupt), stop.installed():
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        pytest.fail("the second signal should have raised")


def test_a_signal_after_the_last_batch_still_stops_the_block():
    stop = StopOnSignal()
    with pytest.raises(KeyboardInterrupt), stop.installed():
        os.kill(os.getpid(), signal.SIGTERM)


def test_fit_stops_at_the_batch_after_the_signal():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    batches_begun = []

    class SignalAtSecondBatch(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            batches_begun.append(batch)
            if batch == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    stop = StopOnSignal()
    with pytest.raises(KeyboardInterrupt), stop.installed():
        model.fit(
            np.ones((40, 3)),
            np.ones((40, 1)),
            batch_size=4,
            epochs=2,
            verbose=0,
            callbacks=[SignalAtSecondBatch(), stop],
        )
    assert batches_begun == [0, 1]  # no batch began after the signal

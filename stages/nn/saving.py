"""Saving and loading models: deterministic ``.keras`` files, loaded in Keras safe mode."""

from __future__ import annotations

import datetime
import io
import json
import zipfile
from pathlib import Path

import keras

from stages.nn import length_aware  # noqa: F401  (registers the classifier's own layers, so `load` works alone)

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
SAVED_DATE = datetime.datetime(*ZIP_EPOCH).strftime("%Y-%m-%d@%H:%M:%S")  # Keras's date_saved format


def save(model: keras.Model, path) -> None:
    """Save ``model`` as a ``.keras`` file whose bytes depend only on the model.

    Keras stamps the wall-clock time into ``metadata.json`` (``date_saved``) and into every
    zip entry, and numbers shared objects in ``config.json`` by their memory address; the
    times are set to the zip epoch and the numbers to 1, 2, ... in order of appearance,
    so the same params give a byte-identical file and DVC skips the stages after an
    unchanged model.
    """
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info, data in entries:
            if info.filename == "metadata.json":
                data = json.dumps(json.loads(data) | {"date_saved": SAVED_DATE}).encode()
            elif info.filename == "config.json":
                data = json.dumps(_renumber_shared_objects(json.loads(data), {})).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_EPOCH)
            fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
            archive.writestr(fixed, data)
    Path(path).write_bytes(buffer.getvalue())


def _renumber_shared_objects(node, numbers: dict):
    """``node`` with every ``shared_object_id`` replaced by its order of first appearance."""
    if isinstance(node, dict):
        if "shared_object_id" in node:
            node["shared_object_id"] = numbers.setdefault(node["shared_object_id"], len(numbers) + 1)
        for value in node.values():
            _renumber_shared_objects(value, numbers)
    elif isinstance(node, list):
        for value in node:
            _renumber_shared_objects(value, numbers)
    return node


def load(path) -> keras.Model:
    """Load a saved ``.keras`` model in safe mode (no arbitrary code, no pickles)."""
    return keras.saving.load_model(path, safe_mode=True)

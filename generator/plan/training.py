"""The training part of the model server's config: historic data from storage, the bus's training
queue, and the hyperparameters training receives."""

from __future__ import annotations

from .. import defaults
from ..manifest import BusTraining, HistoricDataTraining, Manifest
from ..runtime import config as rc
from .bus import routing_keys


def training_config(slug: str, m: Manifest) -> rc.TrainingConfig | None:
    if not m.input.training:
        return None
    historic = next((t for t in m.input.training if isinstance(t, HistoricDataTraining)), None)
    bus_train = [t for t in m.input.training if isinstance(t, BusTraining)]
    return rc.TrainingConfig(
        historic=None
        if historic is None
        else rc.HistoricTraining(
            data_source=historic.payload.dataSource,
            file_name=historic.payload.fileName,
            dataset_key=defaults.dataset_key(historic.payload.fileName),
        ),
        bus=None
        if not bus_train
        else rc.BusTraining(
            input_keys=routing_keys(bus_train),
            queue=defaults.queue_name(slug, "train"),
            buffer=bus_train[0].payload.buffer,
            online=any(t.payload.online for t in bus_train),
        ),
        output_keys=routing_keys(m.output.training),
        hyperparameters=dict(m.modelData.payload.hyperparameters),
    )

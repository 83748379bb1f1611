"""Predictions over the bus: one input message → predict() → one result per output key (+ reply_to).

Failures are sorted by whether retrying can help. A body that is not a JSON object, or lacks a
parameter, never will: it is dead-lettered at once. predict() and data-processor failures may be
transient: the message is re-queued with a retry count in its headers, and dead-lettered once the
count passes ``max_retries``. Either way the consumer moves on to the next message.
"""

from __future__ import annotations

import logging
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import BasicProperties

from . import codec
from .bus import Delivery, declare_queue, json_properties, publish_json
from .codec import RequestError, ResultError
from .config import BusConnection, PredictionBus
from .metrics import Metrics
from .predictor import NotReadyError, PredictError, Predictor
from .processor import ProcessorError

log = logging.getLogger("aiar.bus.predict")

RETRIES_HEADER = "x-aiar-retries"
ERROR_HEADER = "x-aiar-error"
ERROR_KIND_HEADER = "x-aiar-error-kind"


class PredictionHandler:
    def __init__(
        self,
        connection: BusConnection,
        bus: PredictionBus,
        predictor: Predictor,
        metrics: Metrics,
    ) -> None:
        self.exchange = connection.exchange
        self.bus = bus
        self.predictor = predictor
        self.metrics = metrics

    def on_connected(self, channel: BlockingChannel) -> None:
        declare_queue(channel, self.bus.dead_letter_queue)

    def handle(self, channel: BlockingChannel, delivery: Delivery) -> None:
        properties, body = delivery.properties, delivery.body
        headers: dict[str, Any] = dict(properties.headers or {})
        try:
            values = codec.loads(body)
            result = codec.dumps_result(
                {
                    "model": self.predictor.slug,
                    "version": self.predictor.version,
                    "result": self.predictor(values),
                }
            )
        except ResultError as exc:  # NaN or Infinity in the result: retrying gives the same
            self._dead_letter(channel, delivery, "predict", str(exc))
            return
        except (ValueError, RequestError) as exc:  # orjson's decode error is a ValueError
            reason = str(exc) if isinstance(exc, RequestError) else "the body is not valid JSON"
            self._dead_letter(channel, delivery, "request", reason)
            return
        except (PredictError, ProcessorError, NotReadyError, TypeError) as exc:
            kind = "processor" if isinstance(exc, ProcessorError) else "predict"
            retries = int(headers.get(RETRIES_HEADER, 0))
            if retries < self.bus.max_retries:
                self._retry(channel, delivery, retries + 1)
            else:
                self._dead_letter(channel, delivery, kind, str(exc))
            return
        publish_json(channel, self.exchange, self.bus.output_keys, result, properties.correlation_id)
        if properties.reply_to:
            publish_json(channel, "", (properties.reply_to,), result, properties.correlation_id)
        channel.basic_ack(delivery.tag)  # only now: every publish above was confirmed
        self.metrics.predictions.labels("bus").inc()
        self.metrics.bus_messages.labels("prediction", "ok").inc()

    def _retry(self, channel: BlockingChannel, delivery: Delivery, retries: int) -> None:
        properties = delivery.properties
        # Re-publishing (rather than nack+requeue) is what lets the retry count travel with the
        # message; it goes to the back of the queue, so one bad message cannot block the others.
        headers = {**(properties.headers or {}), RETRIES_HEADER: retries}
        channel.basic_publish("", self.bus.queue, delivery.body, self._copy(properties, headers))
        channel.basic_ack(delivery.tag)
        self.metrics.bus_messages.labels("prediction", "retried").inc()

    def _dead_letter(self, channel: BlockingChannel, delivery: Delivery, kind: str, reason: str) -> None:
        properties = delivery.properties
        log.warning("dead-lettering a message to %s: %s", self.bus.dead_letter_queue, reason)
        headers = {
            **(properties.headers or {}),
            ERROR_HEADER: reason,
            ERROR_KIND_HEADER: kind,
            "x-aiar-routing-key": delivery.routing_key,
        }
        channel.basic_publish("", self.bus.dead_letter_queue, delivery.body, self._copy(properties, headers))
        channel.basic_ack(delivery.tag)
        self.metrics.errors.labels("bus", kind).inc()
        self.metrics.bus_messages.labels("prediction", "dead_lettered").inc()

    @staticmethod
    def _copy(properties: BasicProperties, headers: dict[str, Any]) -> BasicProperties:
        copy = json_properties(properties.correlation_id, headers)
        copy.reply_to = properties.reply_to
        copy.message_id = properties.message_id
        copy.content_type = properties.content_type or copy.content_type
        return copy

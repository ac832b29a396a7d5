"""Durable named consumers: ``consume(name, handler)`` and ``ack_anomalies``.

The service keeps a named consumer's acknowledged cursor (or, for a group,
who holds which anomaly), so a consumer needs no state of its own: ``consume``
subscribes under the name, hands each anomaly to ``handler`` and acknowledges
it once ``handler`` returns. After a disconnect it reopens under the same name
and the service resumes after the last acknowledgement; an anomaly whose
handler did not finish is delivered again (at least once into the handler,
exactly once acknowledged). docs/reliability.md, "Durable consumers".
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence

import grpc
import grpc.aio
from neural_heatmap_contract.backoff import backoff_delay
from neural_heatmap_contract.v1 import neural_heatmap_service_pb2 as pb

from neural_heatmap._analytics_types import Anomaly
from neural_heatmap._client_base import DEFAULT, ClientBase, Metadata, RetryArg, Timeout
from neural_heatmap._convert import as_str_list
from neural_heatmap._enums import Severity
from neural_heatmap._errors import from_grpc_error
from neural_heatmap._streaming import RECONNECT_CODES, ReconnectPolicy

__all__ = ["ConsumersMixin"]

Handler = Callable[[Anomaly], Awaitable[object] | object]


class ConsumersMixin(ClientBase):
    """``consume`` and ``ack_anomalies``."""

    async def ack_anomalies(
        self,
        consumer: str,
        sequence: int,
        *,
        timeout: Timeout = DEFAULT,
        metadata: Metadata = None,
        retry: RetryArg = DEFAULT,
    ) -> int:
        """Acknowledge a durable consumer's anomalies (``AckAnomalies``).

        Args:
            consumer: The consumer's name.
            sequence: A plain consumer: everything up to this sequence is done. A group
                member: this anomaly is done (a sequence beyond everything handed out
                skips the group forward to it).

        Returns:
            The consumer's acknowledged cursor afterwards.
        """
        resp = await self._unary(
            self._open().AckAnomalies,
            pb.AckAnomaliesRequest(consumer=consumer, sequence=sequence),
            timeout=timeout,
            metadata=metadata,
            retry=retry,
        )
        return int(resp.acked_sequence)

    async def consume(
        self,
        consumer: str,
        handler: Handler,
        *,
        shared: bool = False,
        min_severity: Severity | str | None = None,
        model_ids: Sequence[str] | None = None,
        max_retries: int = ReconnectPolicy.max_retries,
        metadata: Metadata = None,
    ) -> None:
        """Run ``handler`` on every anomaly of durable consumer ``consumer``, until cancelled.

        Each anomaly is acknowledged after ``handler`` returns (a coroutine is awaited);
        an exception from ``handler`` ends ``consume`` with it, and that anomaly is
        delivered again to the next ``consume`` under the name.

        Args:
            consumer: The name the service keeps the cursor under (1-64 letters, digits,
                ``-``, ``_``); a new name starts with anomalies logged from then on.
            handler: Called with each :class:`Anomaly`, in sequence order.
            shared: Join the consumer group ``consumer``: each anomaly goes to one member;
                one not acknowledged within the group's ack deadline goes to another.
            min_severity: Only this severity or worse (plain consumers only).
            model_ids: Only these models (plain consumers only).
            max_retries: Consecutive failed reopenings before raising.
            metadata: Extra gRPC metadata.

        Raises:
            NeuralHeatmapError: A status that is not worth reopening for (e.g.
                INVALID_ARGUMENT for a bad name, OUT_OF_RANGE for a pruned cursor), or
                the last one after ``max_retries`` reopenings.
        """
        request = pb.SubscribeAnomaliesRequest(
            consumer=consumer, shared=shared, model_ids=as_str_list(model_ids)
        )
        if min_severity is not None:
            request.min_severity = Severity.parse(min_severity).to_proto()
        md = self._metadata(metadata)
        failures = 0
        while True:
            call = self._open().SubscribeAnomalies(request, metadata=md)
            try:
                async for msg in call:
                    failures = 0
                    for proto in msg.update.anomalies:
                        result = handler(Anomaly.from_proto(proto))
                        if inspect.isawaitable(result):
                            await result
                        await self.ack_anomalies(consumer, proto.sequence, metadata=metadata)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RECONNECT_CODES or failures >= max_retries:
                    raise from_grpc_error(exc) from exc
            finally:
                call.cancel()
            await asyncio.sleep(backoff_delay(failures))
            failures += 1

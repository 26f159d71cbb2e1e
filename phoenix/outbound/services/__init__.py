"""Writes of the outbound webhooks: the endpoint registry (`endpoints`) and the delivery of
the outbox (`delivery`). The outbox itself is `phoenix.outbound.outbox.emit`."""

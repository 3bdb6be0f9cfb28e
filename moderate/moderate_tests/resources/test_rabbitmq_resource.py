import pika
import pika.exceptions
import pytest

from moderate.resources import RabbitMQResource


def test_publish_and_consume_with_manual_ack(rabbitmq: RabbitMQResource):
    with rabbitmq.channel() as channel:
        rabbitmq.declare_durable_queue(channel, rabbitmq.queue)
        channel.basic_publish("", rabbitmq.queue, b'{"workflow_job_id": 1}')
    with rabbitmq.channel() as channel:
        method, _, body = channel.basic_get(rabbitmq.queue, auto_ack=False)
        assert body == b'{"workflow_job_id": 1}'
        # Not acknowledged: the message must come back when the channel closes.
    with rabbitmq.channel() as channel:
        method, _, body = channel.basic_get(rabbitmq.queue, auto_ack=False)
        assert method.redelivered
        channel.basic_ack(method.delivery_tag)
    with rabbitmq.channel() as channel:
        assert channel.basic_get(rabbitmq.queue, auto_ack=False) == (None, None, None)


def test_declaration_matches_the_platform_api(rabbitmq: RabbitMQResource):
    with rabbitmq.channel() as channel:
        channel.queue_declare(queue=rabbitmq.queue, durable=True)
    with rabbitmq.channel() as channel:
        rabbitmq.declare_durable_queue(channel, rabbitmq.queue)
    with (
        pytest.raises(pika.exceptions.ChannelClosedByBroker) as error,
        rabbitmq.channel() as channel,
    ):
        channel.queue_declare(
            queue=rabbitmq.queue,
            durable=True,
            arguments={"x-dead-letter-exchange": "dlx"},
        )
    assert error.value.reply_code == 406


def test_connection_closed_when_body_raises(rabbitmq: RabbitMQResource):
    opened = []
    with pytest.raises(RuntimeError), rabbitmq.channel() as channel:
        opened.append(channel)
        raise RuntimeError("boom")
    assert opened[0].is_closed


def test_unreachable_broker_is_reported(monkeypatch):
    monkeypatch.setenv("RABBIT_URL", "amqp://guest:guest@127.0.0.1:1/%2F")
    resource = RabbitMQResource()
    report = resource.health_check()
    assert report.configured
    assert report.reachable is False

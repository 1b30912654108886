"""Publishes confirmed persistent messages to a durable queue with pika,
consumes them back with manual acks, and prints what came back as JSON for
amqp_pika_test.go to check.

usage: pika_roundtrip.py PORT QUEUE COUNT

Bodies are "pika-NNNN-" plus one byte i % 256, so that they are distinct
and not all valid UTF-8; they are printed in hex.
"""

import json
import sys

import pika


def body(i):
    return b"pika-%04d-" % i + bytes([i % 256])


def main():
    port, queue, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    params = pika.ConnectionParameters(
        host="127.0.0.1",
        port=port,
        virtual_host="/",
        credentials=pika.PlainCredentials("guest", "guest"),
        connection_attempts=1,
        socket_timeout=10,
        stack_timeout=20,
        blocked_connection_timeout=20,
        heartbeat=30,
    )
    conn = pika.BlockingConnection(params)
    ch = conn.channel()
    declared = ch.queue_declare(queue=queue, durable=True)
    ch.confirm_delivery()

    # With confirms on, basic_publish returns only once the broker acked
    # the message, and raises NackError if it nacked it.
    for i in range(count):
        ch.basic_publish(
            exchange="",
            routing_key=queue,
            body=body(i),
            properties=pika.BasicProperties(
                delivery_mode=2,  # persistent
                content_type="application/octet-stream",
                message_id="msg-%d" % i,
                correlation_id="corr-%d" % (i * 7),
                headers={"source": "pika", "seq": i},
            ),
        )
    after_publish = ch.queue_declare(queue=queue, durable=True, passive=True)

    ch.basic_qos(prefetch_count=50)
    got = []
    last_tag = 0
    for method, props, payload in ch.consume(queue, auto_ack=False, inactivity_timeout=5):
        if method is None:
            break  # nothing for 5 s: the rest is not coming
        if method.delivery_tag <= last_tag:
            raise SystemExit("delivery tag %d after %d" % (method.delivery_tag, last_tag))
        last_tag = method.delivery_tag
        got.append({
            "body": payload.hex(),
            "redelivered": method.redelivered,
            "routing_key": method.routing_key,
            "delivery_mode": props.delivery_mode,
            "content_type": props.content_type,
            "message_id": props.message_id,
            "correlation_id": props.correlation_id,
            "headers": props.headers,
        })
        ch.basic_ack(method.delivery_tag)
        if len(got) == count:
            break
    ch.cancel()
    after_consume = ch.queue_declare(queue=queue, durable=True, passive=True)
    conn.close()

    json.dump({
        "declared_count": declared.method.message_count,
        "after_publish": after_publish.method.message_count,
        "after_consume": after_consume.method.message_count,
        "messages": got,
    }, sys.stdout)


if __name__ == "__main__":
    main()

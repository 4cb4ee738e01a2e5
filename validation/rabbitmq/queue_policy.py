"""Queue policy on a real RabbitMQ, for the model to be compared with (docs/validation.md).

Needs a broker on localhost (Debian's `rabbitmq-server`, 3.10.8 here) and `pika`:
    python3 -m venv /tmp/v && /tmp/v/bin/pip install pika && /tmp/v/bin/python queue_policy.py
Prints one JSON object; queue_policy.out.json is its output on RabbitMQ 3.10.8.
Each body is the message's number; dead-lettered messages carry their first x-death reason and count.
"""
import pika, time, json
conn = pika.BlockingConnection(pika.ConnectionParameters("localhost"))
ch = conn.channel()
out = {}

def fresh(name, args):
    ch.queue_delete(name)
    ch.queue_declare(name, durable=True, arguments=args)

def drain(name):
    ids = []
    while True:
        m, props, body = ch.basic_get(name, auto_ack=True)
        if m is None:
            return ids
        deaths = (props.headers or {}).get("x-death")
        ids.append((int(body), deaths[0]["reason"] if deaths else None, deaths[0]["count"] if deaths else None))

# A dead-letter exchange and its queue.
ch.exchange_declare("dlx", "fanout", durable=True)
fresh("dlq", {})
ch.queue_bind("dlq", "dlx")

# 1. x-message-ttl 1 s, no consumer: all 10 expire and are dead-lettered.
fresh("ttl", {"x-message-ttl": 1000, "x-dead-letter-exchange": "dlx"})
for i in range(10):
    ch.basic_publish("", "ttl", str(i).encode())
time.sleep(2.0)
out["ttl"] = {"left": drain("ttl"), "dlq": drain("dlq")}

# 2. x-max-length 5, drop-head (default): the newest 5 stay; the oldest 5 are dead-lettered (maxlen).
fresh("maxlen", {"x-max-length": 5, "x-dead-letter-exchange": "dlx"})
for i in range(10):
    ch.basic_publish("", "maxlen", str(i).encode())
time.sleep(0.5)
out["drop_head"] = {"left": drain("maxlen"), "dlq": drain("dlq")}

# 3. x-max-length 5, reject-publish, with confirms: 5 accepted, 5 nacked.
fresh("reject", {"x-max-length": 5, "x-overflow": "reject-publish"})
ch.confirm_delivery()
acked = nacked = 0
for i in range(10):
    try:
        ch.basic_publish("", "reject", str(i).encode(), mandatory=False)
        acked += 1
    except pika.exceptions.NackError:
        nacked += 1
out["reject_publish"] = {"acked": acked, "nacked": nacked, "left": drain("reject")}

# 4. Quorum queue, x-delivery-limit 3: one message nacked with requeue until dead-lettered.
ch.queue_delete("qq")
ch.queue_declare("qq", durable=True, arguments={"x-queue-type": "quorum", "x-delivery-limit": 3,
                                               "x-dead-letter-exchange": "dlx"})
ch.basic_publish("", "qq", b"42")
deliveries = 0
deadline = time.time() + 5
while time.time() < deadline:
    m, props, body = ch.basic_get("qq", auto_ack=False)
    if m is None:
        time.sleep(0.05)
        if deliveries and not ch.queue_declare("qq", passive=True).method.message_count:
            break
        continue
    deliveries += 1
    ch.basic_nack(m.delivery_tag, requeue=True)
time.sleep(0.5)
out["delivery_limit"] = {"deliveries": deliveries, "dlq": drain("dlq")}

# 5. Classic queue TTL with a consumer that is slower than the TTL: only the head expires.
fresh("ttl2", {"x-message-ttl": 300, "x-dead-letter-exchange": "dlx"})
for i in range(6):
    ch.basic_publish("", "ttl2", str(i).encode())
got = []
for _ in range(3):
    m, p, body = ch.basic_get("ttl2", auto_ack=True)
    got.append(int(body))
time.sleep(0.6)
out["ttl_partial"] = {"consumed": got, "left": drain("ttl2"), "dlq": drain("dlq")}
# With confirms from here on.
drain("dlq")
# 6. basic.reject without requeue: dead-lettered, reason rejected.
fresh("rej", {"x-dead-letter-exchange": "dlx"})
ch.basic_publish("", "rej", b"7")
m, p, b = ch.basic_get("rej", auto_ack=False)
ch.basic_reject(m.delivery_tag, requeue=False)
time.sleep(0.3)
out["reject"] = drain("dlq")
# 7. reject-publish-dlx with confirms: nacked AND dead-lettered.
fresh("rpd", {"x-max-length": 2, "x-overflow": "reject-publish-dlx", "x-dead-letter-exchange": "dlx"})
acked = nacked = 0
for i in range(5):
    try:
        ch.basic_publish("", "rpd", str(i).encode()); acked += 1
    except pika.exceptions.NackError:
        nacked += 1
time.sleep(0.3)
out["reject_publish_dlx"] = {"acked": acked, "nacked": nacked, "left": drain("rpd"), "dlq": drain("dlq")}
# 8. max-length counts ready messages only: 2 unacked + limit 2 -> 2 more may wait.
fresh("ml", {"x-max-length": 2})
for i in range(2): ch.basic_publish("", "ml", str(i).encode())
held = [ch.basic_get("ml", auto_ack=False)[0] for _ in range(2)]
for i in range(2, 6): ch.basic_publish("", "ml", str(i).encode())
time.sleep(0.3)
out["maxlen_ready_only"] = {"ready_left": [x[0] for x in drain("ml")]}
print(json.dumps(out, indent=1))
conn.close()

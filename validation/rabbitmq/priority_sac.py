"""Priority queues and single active consumer on a real RabbitMQ, for the model to be compared with
(docs/validation.md). Needs a broker on localhost (Debian's `rabbitmq-server`, 3.10.8 here) and
`pika`:  /tmp/v/bin/python priority_sac.py  (venv as in queue_policy.py).
Prints one JSON object; priority_sac.out.json is its output on RabbitMQ 3.10.8.
Each body is the message's number.
"""
import pika, time, json
conn = pika.BlockingConnection(pika.ConnectionParameters("localhost"))
ch = conn.channel()
out = {}

def fresh(c, name, args):
    c.queue_delete(name)
    c.queue_declare(name, durable=True, arguments=args)

def publish(name, items):
    for i, p in items:
        props = pika.BasicProperties(priority=p) if p is not None else None
        ch.basic_publish("", name, str(i).encode(), properties=props)

def drain(name):
    ids = []
    while True:
        m, props, body = ch.basic_get(name, auto_ack=True)
        if m is None:
            return ids
        ids.append(int(body))

def count(name):
    return ch.queue_declare(name, passive=True).method.message_count

# 1. x-max-priority 5: messages 0..5 with priorities 0, 5, 2, 9 (above the maximum), none, 5.
fresh(ch, "prio", {"x-max-priority": 5})
publish("prio", [(0, 0), (1, 5), (2, 2), (3, 9), (4, None), (5, 5)])
time.sleep(0.2)
out["priority_order"] = drain("prio")

# 2. x-max-priority 1 with x-max-length 2 (drop-head): 0 (p0), 1 (p1), 2 (p0): which is dropped?
fresh(ch, "prio_len", {"x-max-priority": 1, "x-max-length": 2})
publish("prio_len", [(0, 0), (1, 1), (2, 0)])
time.sleep(0.2)
out["priority_drop_head"] = {"left": drain("prio_len")}

# 3. x-max-priority 1 with x-message-ttl 1 s: 0 (p0) at 0 s, 1 (p1) at 0.7 s. At 1.3 s 0 is past
# its TTL but behind the live 1; at 2.0 s both are gone.
fresh(ch, "prio_ttl", {"x-max-priority": 1, "x-message-ttl": 1000})
t0 = time.time()
publish("prio_ttl", [(0, 0)])
time.sleep(0.7)
publish("prio_ttl", [(1, 1)])
time.sleep(max(0.0, 1.3 - (time.time() - t0)))
at_1_3 = count("prio_ttl")
time.sleep(max(0.0, 2.0 - (time.time() - t0)))
out["priority_ttl"] = {"count_at_1_3s": at_1_3, "count_at_2_0s": count("prio_ttl")}

# 4. x-single-active-consumer: consumers "a", "b", "c" subscribe in that order on their own
# channels, prefetch 2, manual acks that never come; 5 messages. Then a's channel closes.
fresh(ch, "sac", {"x-single-active-consumer": True})
got = []
chans = {}
for name in ["a", "b", "c"]:
    c = conn.channel()
    c.basic_qos(prefetch_count=2)
    c.basic_consume("sac", lambda _c, m, _p, body, name=name: got.append([name, int(body), m.redelivered]))
    chans[name] = c
publish("sac", [(i, None) for i in range(5)])
conn.process_data_events(time_limit=0.5)
first = list(got)
got.clear()
chans["a"].close()
conn.process_data_events(time_limit=0.5)
out["single_active"] = {"before": first, "after_a_closes": got}
for c in chans.values():
    if c.is_open:
        c.close()
print(json.dumps(out, indent=1))
conn.close()

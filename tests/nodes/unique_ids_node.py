#!/usr/bin/env python3
"""A correct Maelstrom unique-ids node that is not ours: an id is a number
made of a per-node count and the node's index (count * 1000 + index), so ids
are unique and comparable. The lab must pass it.

With MODE `lin-tso` (argv[1]) it is correct another way: every id is a
timestamp asked of Maelstrom's lin-tso service, which never hands out one
twice, so ids are unique across nodes without any counting of its own.

With MODE `counter` it is broken as users break it: the id is the count
alone, so two nodes hand out the same ids."""
import json
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else ""
node_id = None
index = 0
count = 0
next_id = 0
waiting = {}  # msg_id of a `ts` request -> the generate it answers


def send(dest, body):
    global next_id
    body["msg_id"] = next_id
    next_id += 1
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


def reply(req, body):
    body["in_reply_to"] = req["body"]["msg_id"]
    send(req["src"], body)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    if body["type"] == "init":
        node_id = body["node_id"]
        index = body["node_ids"].index(node_id)
        reply(msg, {"type": "init_ok"})
    elif body["type"] == "generate" and mode == "lin-tso":
        waiting[next_id] = msg
        send("lin-tso", {"type": "ts"})
    elif body["type"] == "generate":
        count += 1
        new = count if mode == "counter" else count * 1000 + index
        reply(msg, {"type": "generate_ok", "id": new})
    elif body["type"] == "ts_ok" and body.get("in_reply_to") in waiting:
        reply(waiting.pop(body["in_reply_to"]), {"type": "generate_ok", "id": body["ts"]})

#!/usr/bin/env python3
"""A small node for the runner's fault tests, not ours. It answers `init`;
a client's `note` (`to`: a node id, `value`) is sent on to that node as a
`note`, then answered with `note_ok`; a note from a node is kept; `read`
answers with the notes kept, in the order they came, and this process's
pid. Its memory is all it has: a restarted process knows no notes."""
import json
import os
import sys

node_id = None
next_id = 0
notes = []


def send(dest, body):
    global next_id
    body["msg_id"] = next_id
    next_id += 1
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    from_client = msg["src"].startswith("c")
    if kind == "init":
        node_id = body["node_id"]
        send(msg["src"], {"type": "init_ok", "in_reply_to": body["msg_id"]})
    elif kind == "note" and from_client:
        send(body["to"], {"type": "note", "value": body["value"]})
        send(msg["src"], {"type": "note_ok", "in_reply_to": body["msg_id"]})
    elif kind == "note":
        notes.append(body["value"])
    elif kind == "read":
        reply = {"type": "read_ok", "notes": notes, "pid": os.getpid()}
        reply["in_reply_to"] = body["msg_id"]
        send(msg["src"], reply)

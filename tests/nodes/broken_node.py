#!/usr/bin/env python3
"""A deliberately broken node for the cluster runner's tests.

MODE (argv[1]): `exit` answers init then exits on the first request;
`garbage` answers init then writes a line that is not JSON;
`stranger` answers init then sends a message to a node that does not exist;
`wrong-echo` answers echo requests with the wrong value."""
import json
import sys

mode = sys.argv[1]
node_id = None
next_id = 0

def send(dest, body):
    global next_id
    body["msg_id"] = next_id
    next_id += 1
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)

for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    if body["type"] == "init":
        node_id = body["node_id"]
        send(msg["src"], {"type": "init_ok", "in_reply_to": body["msg_id"]})
        continue
    if mode == "exit":
        sys.exit(3)
    if mode == "garbage":
        print("hello, I am not JSON", flush=True)
    elif mode == "stranger":
        send("n99", {"type": "gossip"})
    elif mode == "wrong-echo":
        send(msg["src"], {"type": "echo_ok", "echo": "not what you sent", "in_reply_to": body["msg_id"]})

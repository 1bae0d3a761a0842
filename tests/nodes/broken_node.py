#!/usr/bin/env python3
"""A deliberately broken node for the cluster and golden runners' tests.

MODE (argv[1]):
- `exit` answers init then exits on the first request;
- `garbage` answers init then writes a line that is not JSON;
- `stranger` answers init then sends a message to a node that does not exist;
- `wrong-echo` answers echo requests with the wrong value;
- `off-by-one-echo` answers echo requests with an `in_reply_to` one past the
  request's `msg_id`;
- `lonely-broadcast` speaks the broadcast protocol correctly but never
  forwards: it acks broadcasts and reads only the values it was given;
- `double-counter` speaks the counter protocol and gossips every add, but
  counts a gossiped add each time it hears it, and every node passes what it
  hears on once more, so remote nodes count other nodes' adds twice.

The last two break no rule of the protocol: only the checker can catch them.

For the runner's clean-up, two modes start a grandchild (`sleep`) and log
"pids NODE GRANDCHILD" to stderr, so a test can check both are killed:
- `echo-with-child` is a correct echo node;
- `stops-reading`: n1 never reads its input after init, while n0 floods it
  with gossip on its first request."""
import json
import os
import subprocess
import sys
import time

mode = sys.argv[1]
node_id = None
node_ids = []
next_id = 0
seen = []  # lonely-broadcast: the values given to this node
value = 0  # double-counter: this node's count


def send(dest, body):
    global next_id
    body["msg_id"] = next_id
    next_id += 1
    print(json.dumps({"src": node_id, "dest": dest, "body": body}), flush=True)


def reply(msg, body):
    body["in_reply_to"] = msg["body"]["msg_id"]
    send(msg["src"], body)


for line in sys.stdin:
    msg = json.loads(line)
    body = msg["body"]
    kind = body["type"]
    if kind == "init":
        node_id = body["node_id"]
        node_ids = body["node_ids"]
        reply(msg, {"type": "init_ok"})
        if mode in ("echo-with-child", "stops-reading"):
            child = subprocess.Popen(["sleep", "600"])
            print(f"pids {os.getpid()} {child.pid}", file=sys.stderr, flush=True)
        if mode == "stops-reading" and node_id == "n1":
            time.sleep(3600)
        continue
    if mode == "exit":
        sys.exit(3)
    if mode == "garbage":
        print("hello, I am not JSON", flush=True)
    elif mode == "stranger":
        send("n99", {"type": "gossip"})
    elif mode == "wrong-echo":
        reply(msg, {"type": "echo_ok", "echo": "not what you sent"})
    elif mode == "off-by-one-echo":
        send(msg["src"], {"type": "echo_ok", "echo": body["echo"], "in_reply_to": body["msg_id"] + 1})
    elif mode == "echo-with-child":
        reply(msg, {"type": "echo_ok", "echo": body["echo"]})
    elif mode == "stops-reading":
        if kind == "echo" and next_id < 10:
            for _ in range(10000):
                send("n1", {"type": "gossip"})
        reply(msg, {"type": "echo_ok", "echo": body.get("echo")})
    elif mode == "lonely-broadcast":
        if kind == "topology":
            reply(msg, {"type": "topology_ok"})
        elif kind == "broadcast":
            seen.append(body["message"])
            reply(msg, {"type": "broadcast_ok"})
        elif kind == "read":
            reply(msg, {"type": "read_ok", "messages": seen})
    elif mode == "double-counter":
        if kind == "add":
            value += body["delta"]
            for peer in node_ids:
                if peer != node_id:
                    send(peer, {"type": "inc", "delta": body["delta"], "hops": 0})
            reply(msg, {"type": "add_ok"})
        elif kind == "inc":
            value += body["delta"]
            if body["hops"] == 0:
                for peer in node_ids:
                    if peer not in (node_id, msg["src"]):
                        send(peer, {"type": "inc", "delta": body["delta"], "hops": 1})
        elif kind == "read":
            reply(msg, {"type": "read_ok", "value": value})
